import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, visit, type DocumentNode } from 'graphql';
import type { RequestContext } from '../core/context.js';
import { badUserInput } from '../core/errors.js';
import { isStorableText } from '../core/validation.js';
import { toGraphQLError } from './errors.js';

const unstorable = (text: string) => !isStorableText(text);

/** The path of the first string in `value` (keys of objects included) that could not be stored as sent. */
function firstUnstorable(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') return unstorable(value) ? path : undefined;
  if (depth > 64 || value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = firstUnstorable(value[i], `${path}[${i}]`, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    if (unstorable(key)) return `${path} (a key)`;
    const found = firstUnstorable(item, `${path}.${key}`, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** Per parsed document (Apollo keeps one per distinct query text): its literals never change. */
const literalsChecked = new WeakMap<DocumentNode, boolean>();

function unstorableLiteral(document: DocumentNode): boolean {
  let found = literalsChecked.get(document);
  if (found === undefined) literalsChecked.set(document, (found = findUnstorableLiteral(document)));
  return found;
}

function findUnstorableLiteral(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    StringValue(node) {
      if (unstorable(node.value)) found = true;
    },
    [Kind.OBJECT_FIELD](node) {
      if (unstorable(node.name.value)) found = true;
    },
  });
  return found;
}

/**
 * Every string a request carries, in variables (JSON values and their keys included) or written in the query, must
 * be storable as sent: no NUL characters, no lone surrogates. Checked once for the whole request, before anything
 * runs, so no feature has to remember it; length and shape rules stay with each field (core/validation.ts).
 */
export function inputHygienePlugin(): ApolloServerPlugin<RequestContext> {
  return {
    requestDidStart: async () => ({
      didResolveOperation: async ({ request, document }) => {
        const variable = firstUnstorable(request.variables ?? {}, '$');
        if (variable) throw toGraphQLError(badUserInput(variable.replace(/^\$\./, ''), 'must not contain NUL characters or unpaired surrogates'));
        if (unstorableLiteral(document)) throw toGraphQLError(badUserInput('query', 'a string must not contain NUL characters or unpaired surrogates'));
      },
    }),
  };
}
