import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ApiCompleteOnboardingDocument,
  ApiViewerSummaryDocument,
  ConsumeCreditsDocument,
  CreditBalanceDocument,
  MeDocument,
  OnboardingStateDocument,
} from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { balanceOf, grantAsAdmin } from '../support/ledger.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

describe('me, creditBalance and onboarding', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { STARTER_CREDITS: '20', ADMIN_USER_IDS: ADMIN_SUB } });
  });
  afterAll(() => server.close());

  it('me returns the profile from the token claims and the current balance', async () => {
    const sub = uniqueSub('me');
    const res = await server.as(sub, { email: 'ada@example.com', given_name: 'Ada', family_name: 'Lovelace' }).execute(MeDocument);
    expect(res.errors).toBeUndefined();
    expect(res.data?.me).toMatchObject({
      clerkUserId: sub,
      email: 'ada@example.com',
      firstName: 'Ada',
      lastName: 'Lovelace',
      roles: [],
      creditBalance: 20,
      onboardingComplete: false,
      stripeCustomerId: null,
      planTier: 'free',
    });
    expect(res.data?.me.id).toMatch(/^usr_/);
    expect(new Date(res.data!.me.createdAt).getTime()).not.toBeNaN();

    // Later claims update the profile; the admin sub gets the admin role.
    const renamed = await server.as(sub, { email: 'ada@new.example.com', first_name: 'Augusta' }).execute(MeDocument);
    expect(renamed.data?.me).toMatchObject({ id: res.data?.me.id, email: 'ada@new.example.com', firstName: 'Augusta', lastName: 'Lovelace' });
    const admin = await server.as(ADMIN_SUB).execute(MeDocument);
    expect(admin.data?.me.roles).toEqual(['admin']);
  });

  it('creditBalance follows every change, read from the database', async () => {
    const sub = uniqueSub('balance');
    const userId = await userIdOf(server, sub);
    const client = server.as(sub);
    expect((await client.execute(CreditBalanceDocument)).data?.creditBalance).toBe(20);
    await client.execute(ConsumeCreditsDocument, { input: { amount: 6, feature: 'chat', idempotencyKey: 'b1' } });
    expect((await client.execute(CreditBalanceDocument)).data?.creditBalance).toBe(14);
    await grantAsAdmin(server, userId, 5);
    const summary = await client.execute(ApiViewerSummaryDocument);
    expect(summary.data).toMatchObject({ creditBalance: 19, me: { creditBalance: 19 } });
    expect(await balanceOf(server, userId)).toBe(19);
  });

  it('completeOnboarding is idempotent and keeps the first completion time', async () => {
    const sub = uniqueSub('onboard');
    const client = server.as(sub);
    expect((await client.execute(OnboardingStateDocument)).data?.onboardingState).toEqual({ complete: false, completedAt: null });

    const first = await client.execute(ApiCompleteOnboardingDocument);
    expect(first.data?.completeOnboarding.onboardingComplete).toBe(true);
    const state = (await client.execute(OnboardingStateDocument)).data!.onboardingState;
    expect(state.complete).toBe(true);
    expect(state.completedAt).toEqual(expect.any(String));

    const second = await client.execute(ApiCompleteOnboardingDocument);
    expect(second.data?.completeOnboarding).toEqual(first.data?.completeOnboarding); // updatedAt unchanged too
    expect((await client.execute(OnboardingStateDocument)).data?.onboardingState).toEqual(state);
    expect((await client.execute(MeDocument)).data?.me.onboardingComplete).toBe(true);
  });

  it('concurrent completeOnboarding calls all succeed and record one completion time', async () => {
    const sub = uniqueSub('onboard_race');
    const userId = await userIdOf(server, sub);
    const results = await Promise.all(Array.from({ length: 10 }, () => server.as(sub).execute(ApiCompleteOnboardingDocument)));
    expect(results.map((r) => r.errors)).toEqual(Array(10).fill(undefined));
    expect(results.every((r) => r.data?.completeOnboarding.onboardingComplete)).toBe(true);
    const state = (await server.as(sub).execute(OnboardingStateDocument)).data!.onboardingState;
    const { rows } = await server.sql.query('select onboarding_completed_at from users where id = $1', [userId]);
    expect(state.completedAt).toBe((rows[0].onboarding_completed_at as Date).toISOString());
  });
});
