import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Metrics } from './metrics.js';

/** What the code serving one HTTP request can know about it without having it passed down. */
export interface RequestScope {
  requestId: string;
  startedAt: number;
  /** The serving app's metrics, for code that records without having them passed down (the webhook). */
  metrics: Metrics;
  /** Set once Apollo has resolved the operation; the access log reports it. */
  operationName?: string;
}

const storage = new AsyncLocalStorage<RequestScope>();

/** The scope of the request being served, or undefined outside one (start-up, timers). */
export const currentRequestScope = (): RequestScope | undefined => storage.getStore();

const REQUEST_ID = /^[\w.:-]{1,100}$/;

function requestIdOf(req: Request): string {
  const header = req.get('x-request-id');
  return header && REQUEST_ID.test(header) ? header : randomUUID();
}

export function requestScopeOf(res: Response): RequestScope {
  return res.locals.requestScope as RequestScope;
}

/**
 * Gives every request an id (a well-formed `x-request-id` from the caller or a fresh UUID), echoes it in the
 * response, and runs the rest of the request inside its scope so that every log line and ledger row can carry it.
 */
export function requestScope(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const scope: RequestScope = { requestId: requestIdOf(req), startedAt: performance.now(), metrics };
    res.locals.requestScope = scope;
    res.setHeader('x-request-id', scope.requestId);
    storage.run(scope, next);
  };
}
