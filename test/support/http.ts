/** Plain HTTP against a server started as a separate process (no typed documents: the process is a black box). */
export interface GraphQLResult<T> {
  status: number;
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

export async function graphql<T = Record<string, unknown>>(
  baseUrl: string,
  query: string,
  { token, variables }: { token?: string; variables?: Record<string, unknown> } = {},
): Promise<GraphQLResult<T>> {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as Omit<GraphQLResult<T>, 'status'>;
  return { status: response.status, ...body };
}

export async function healthStatus(baseUrl: string): Promise<number> {
  const response = await fetch(`${baseUrl}/healthz`);
  await response.body?.cancel();
  return response.status;
}

/** A request as a browser or curl could send it, with nothing added by the test client. */
export async function send(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}
