import type { RequestContext } from '../core/context.js';
import { Ledger } from './ledger.js';

/**
 * The request's ledger: its EntityManager (forked when first needed: the fast paths send their one statement through
 * the ORM's root EntityManager), the configured workshop cost, and the request id for its rows.
 */
export const ledgerOf = (ctx: RequestContext) =>
  new Ledger(
    () => ctx.em,
    {
      workshopCreditCost: ctx.services.config.workshopCreditCost,
      requestId: ctx.requestId,
      maxOpenReservations: ctx.services.config.limits.openReservations,
    },
    ctx.services.orm.em,
  );
