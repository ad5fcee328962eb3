import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { ClientGoneError, runInRequestScope, type RequestScope } from '../request-scope.js';

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
 * The scope's signal aborts if the client hangs up first (database/client-gone.ts stops its statements).
 */
export function requestScope(): RequestHandler {
  return (req, res, next) => {
    const gone = new AbortController();
    const scope: RequestScope = { requestId: requestIdOf(req), startedAt: performance.now(), signal: gone.signal };
    res.once('close', () => {
      if (!res.writableFinished) gone.abort(new ClientGoneError());
    });
    res.locals.requestScope = scope;
    res.setHeader('x-request-id', scope.requestId);
    runInRequestScope(scope, next);
  };
}
