import { describe, expect, it } from '@jest/globals';
import { AddOrganizationMemberDocument, CreateCheckoutSessionDocument, CreateOrganizationDocument, RefundCreditsDocument } from '../generated/graphql.js';
import { ADMIN, deliver, deliverStorm, PACKS, stripeEvent, useBilling } from '../support/billing.js';
import { errorOf } from '../support/errors.js';
import { balanceOf, ledgerRows } from '../support/ledger.js';
import { uniqueSub, userIdOf } from '../support/subjects.js';

/** Buying for an organization: its own Stripe customer, its OWNERs and ADMINs only, credited exactly once. */
describe('organization purchases', () => {
  const billing = useBilling({ ADMIN_USER_IDS: ADMIN });

  async function team() {
    const { server } = billing;
    const owner = uniqueSub('org_owner');
    const member = uniqueSub('org_member');
    const ownerId = await userIdOf(server, owner);
    const memberId = await userIdOf(server, member);
    const org = (await server.as(owner).execute(CreateOrganizationDocument, { input: { name: 'Buyers' } })).data!.createOrganization;
    await server.as(owner).execute(AddOrganizationMemberDocument, { input: { organizationId: org.id, userId: memberId, role: 'MEMBER' } });
    return { org, owner, ownerId, member, memberId };
  }

  it('lets an OWNER buy for the organization on its own Stripe customer; the webhook credits the organization once', async () => {
    const { server, stripe } = billing;
    const { org, owner, ownerId } = await team();
    const res = await server.as(owner).execute(CreateCheckoutSessionDocument, { input: { packId: PACKS.small.id, organizationId: org.id } });
    expect(res.errors).toBeUndefined();
    const request = stripe.requestsTo('POST', '/v1/checkout/sessions').at(-1)!.body;
    expect(request.metadata).toMatchObject({ accountId: org.id, organizationId: org.id, packId: PACKS.small.id });
    const customer = stripe.customers.get(String(request.customer))!;
    expect(customer).toMatchObject({ name: 'Buyers', metadata: { accountId: org.id, organizationId: org.id } });

    const paid = stripe.completeSession(res.data!.createCheckoutSession.id, 'paid');
    const answers = await deliverStorm(server, [stripeEvent('checkout.session.completed', paid)], { copies: 5, concurrency: 3, seed: 7 });
    expect(answers.filter((a) => a.body?.outcome === 'credited' && !a.body.duplicate)).toHaveLength(1);
    expect(await balanceOf(server, org.id)).toBe(PACKS.small.credits);
    expect(await balanceOf(server, ownerId)).toBe(0);
    const [purchase] = (await ledgerRows(server, org.id)).filter((r) => r.type === 'purchase');
    expect(purchase).toMatchObject({ status: 'completed', amount: PACKS.small.credits });

    // A second purchase reuses the organization's customer.
    await server.as(owner).execute(CreateCheckoutSessionDocument, { input: { packId: PACKS.small.id, organizationId: org.id } });
    expect(stripe.requestsTo('POST', '/v1/checkout/sessions').at(-1)!.body.customer).toBe(customer.id);
  });

  it('refuses a MEMBER (FORBIDDEN) and a stranger (NOT_FOUND), before calling Stripe', async () => {
    const { server, stripe } = billing;
    const { org, member } = await team();
    const before = stripe.requests.length;
    expect(errorOf(await server.as(member).execute(CreateCheckoutSessionDocument, { input: { packId: PACKS.small.id, organizationId: org.id } }))?.code).toBe('FORBIDDEN');
    expect(errorOf(await server.as(uniqueSub('stranger')).execute(CreateCheckoutSessionDocument, { input: { packId: PACKS.small.id, organizationId: org.id } }))?.code).toBe('NOT_FOUND');
    expect(stripe.requests.length).toBe(before);
  });

  it('credits an organization from the metadata of a session made outside the API', async () => {
    const { server, stripe } = billing;
    const { org } = await team();
    const session = stripe.createPaidSession({ metadata: { accountId: org.id, packId: PACKS.small.id } });
    expect((await deliver(server, stripeEvent('checkout.session.completed', session))).body?.outcome).toBe('credited');
    expect(await balanceOf(server, org.id)).toBe(PACKS.small.credits);
  });

  it("refunds an organization's purchase from its wallet, the admin as the row's actor", async () => {
    const { server, stripe } = billing;
    const { org, owner } = await team();
    const res = await server.as(owner).execute(CreateCheckoutSessionDocument, { input: { packId: PACKS.small.id, organizationId: org.id } });
    const paid = stripe.completeSession(res.data!.createCheckoutSession.id, 'paid');
    await deliver(server, stripeEvent('checkout.session.completed', paid));
    const refund = await server.as(ADMIN).execute(RefundCreditsDocument, { input: { transactionId: res.data!.createCheckoutSession.transaction!.id, reason: 'Team asked' } });
    expect(refund.data!.refundCredits).toMatchObject({ type: 'REFUND', amount: -PACKS.small.credits, balanceAfter: 0 });
    expect(await balanceOf(server, org.id)).toBe(0);
    const { rows } = await server.sql.query(`select actor_id from credit_transactions where id = $1`, [refund.data!.refundCredits.id]);
    expect(rows[0].actor_id).toBe(await userIdOf(server, ADMIN));
  });
});
