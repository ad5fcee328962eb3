import { forgetToken, storedToken } from './session.js';

/** A failure the operator can read: what went wrong, in words, and the API's code for it. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface GraphQLErrorShape {
  message?: string;
  extensions?: Record<string, unknown> & { code?: string };
}

const number = (value: unknown) => (typeof value === 'number' ? value.toLocaleString('en-US') : '?');

/** The API's errors, said in words (never shown as JSON). */
export function inWords(error: GraphQLErrorShape): string {
  const code = error.extensions?.code ?? 'UNKNOWN';
  const extensions = error.extensions ?? {};
  const message = (error.message ?? '').replace(/^Invalid input\./, 'Invalid ');
  switch (code) {
    case 'UNAUTHENTICATED':
      return 'Your sign-in was not accepted: the token is missing, expired, or not signed for this server. Sign in again.';
    case 'FORBIDDEN':
      return `Not allowed: ${message || 'this needs the admin role'}.`;
    case 'NOT_FOUND':
      return `${message || 'Not found'}.`;
    case 'BAD_USER_INPUT':
      return `${message}.`;
    case 'INSUFFICIENT_CREDITS':
      return `Not enough credits: the balance is ${number(extensions.balance)} (${number(extensions.spendable)} spendable) and ${number(extensions.required)} are needed.`;
    case 'RATE_LIMITED':
      return `Too many requests for now; try again in ${number(extensions.retryAfterSeconds)} seconds.`;
    case 'INTERNAL_SERVER_ERROR':
      return 'The server failed to do this (an internal error). Nothing was changed by a failed request you may retry; if it keeps failing, check the server logs.';
    case 'GRAPHQL_VALIDATION_FAILED':
    case 'GRAPHQL_PARSE_FAILED':
      return `This server does not understand the console's request (${message}). The console and the API may be different versions.`;
    default:
      return message ? `${message}${/[.!?]$/.test(message) ? '' : '.'}` : 'The request failed.';
  }
}

/** Called when the API no longer accepts the token: the app goes back to sign-in. */
let onSignedOut: (reason: string) => void = () => undefined;
export const whenSignedOut = (handler: (reason: string) => void) => {
  onSignedOut = handler;
};

/** One GraphQL operation as the signed-in operator. Throws ApiError with the reason in words. */
export async function gql<T>(query: string, variables: Record<string, unknown> = {}, token = storedToken()): Promise<T> {
  let response: Response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError('NETWORK', 'Could not reach the server. Check that it is running and try again.');
  }
  let body: { data?: T | null; errors?: GraphQLErrorShape[] };
  try {
    body = (await response.json()) as typeof body;
  } catch {
    throw new ApiError('HTTP', `The server answered ${response.status} ${response.statusText || ''}`.trim() + ' without a readable body.');
  }
  const [first] = body.errors ?? [];
  if (first) {
    const code = first.extensions?.code ?? 'UNKNOWN';
    if (code === 'UNAUTHENTICATED' && token) {
      forgetToken();
      onSignedOut(inWords(first));
    }
    throw new ApiError(code, inWords(first));
  }
  if (!body.data) throw new ApiError('HTTP', `The server answered ${response.status} with no data.`);
  return body.data;
}

export const errorMessage = (error: unknown) =>
  error instanceof ApiError ? error.message : `Something went wrong in the console: ${error instanceof Error ? error.message : String(error)}.`;
