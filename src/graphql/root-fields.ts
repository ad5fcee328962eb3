import { Kind, type DocumentNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';

export interface RootField {
  /** The field's name in the schema, e.g. `consumeCredits`. */
  name: string;
  /** Where its result appears in the response: the alias, or the name. */
  responseKey: string;
}

/** The top-level fields an operation selects, through fragments; aliases of one field count once each. */
export function rootFields(operation: OperationDefinitionNode, document?: DocumentNode): RootField[] {
  const fragments = new Map(
    (document?.definitions ?? []).flatMap((definition) => (definition.kind === Kind.FRAGMENT_DEFINITION ? [[definition.name.value, definition] as const] : [])),
  );
  const fields: RootField[] = [];
  const visited = new Set<string>();
  const walk = (selectionSet: SelectionSetNode) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        fields.push({ name: selection.name.value, responseKey: selection.alias?.value ?? selection.name.value });
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet);
      } else if (!visited.has(selection.name.value)) {
        visited.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) walk(fragment.selectionSet);
      }
    }
  };
  walk(operation.selectionSet);
  return fields.filter((field) => field.name !== '__typename');
}
