/** Which optional parts of the API this server has (/console/capabilities.json, made from the schema it serves). */

export interface FieldShape {
  name: string;
  type: string;
  leaf: boolean;
  args: { name: string; type: string }[];
}

export interface Capabilities {
  query: Record<string, FieldShape>;
  mutation: Record<string, FieldShape>;
  types: Record<string, FieldShape[]>;
}

let loaded: Capabilities = { query: {}, mutation: {}, types: {} };

export async function loadCapabilities(): Promise<Capabilities> {
  try {
    const response = await fetch('/console/capabilities.json');
    if (response.ok) loaded = (await response.json()) as Capabilities;
  } catch {
    // Without it the console shows what every server has.
  }
  return loaded;
}

export const capabilities = () => loaded;

export const namedType = (type: string) => type.replace(/[[\]!]/g, '');

export const fieldsOf = (typeName: string): FieldShape[] => loaded.types[typeName] ?? [];

export const hasArg = (field: FieldShape | undefined, name: string) => field?.args.some((arg) => arg.name === name) ?? false;

/**
 * A selection of a type's fields that the console can show without knowing the type: its scalars, and one level into
 * objects (their scalars). Lists of objects are left out unless `lists` names them.
 */
export function leafSelection(typeName: string, depth = 1): string {
  const parts: string[] = [];
  for (const field of fieldsOf(typeName)) {
    if (field.args.some((arg) => arg.type.endsWith('!'))) continue;
    if (field.leaf) parts.push(field.name);
    else if (depth > 0 && fieldsOf(namedType(field.type)).length > 0) {
      const inner = leafSelection(namedType(field.type), depth - 1);
      if (inner) parts.push(`${field.name} { ${inner} }`);
    }
  }
  return parts.join(' ');
}
