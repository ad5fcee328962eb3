import { AsyncLocalStorage } from 'node:async_hooks';

/** What the code serving one HTTP request can know about it without having it passed down. */
export interface RequestScope {
  requestId: string;
  startedAt: number;
  /** Set once Apollo has resolved the operation; the access log reports it. */
  operationName?: string;
  /** Aborted when the client goes away before its answer is sent: no statement should run for it after that. */
  signal?: AbortSignal;
}

/** The client of the request being served went away; what it asked for is abandoned. */
export class ClientGoneError extends Error {
  constructor() {
    super('the client closed the request before it was answered');
    this.name = 'ClientGoneError';
  }
}

const storage = new AsyncLocalStorage<RequestScope>();

/** The scope of the request being served, or undefined outside one (start-up, timers). */
export const currentRequestScope = (): RequestScope | undefined => storage.getStore();

/** Runs `next` (the rest of the request) inside `scope`, so every log line written for it carries its id. */
export const runInRequestScope = (scope: RequestScope, next: () => void) => storage.run(scope, next);
