import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('credit job settings', () => {
  it('default to a 30 s sweep and no plan settings (the plans table as it is)', () => {
    expect(loadConfig({}).credits).toEqual({ sweepIntervalSeconds: 30, planAllowances: new Map(), allowanceRolloverCap: 0, planPrices: new Map(), autoRechargeIntervalMs: 1000 });
  });

  it('read PLAN_PRICES as plan:price pairs, each plan and price once', () => {
    expect([...loadConfig({ PLAN_PRICES: 'pro:price_1Abc, team:price_2Def' }).credits.planPrices]).toEqual([
      ['pro', 'price_1Abc'],
      ['team', 'price_2Def'],
    ]);
    for (const bad of ['pro', 'pro:prod_1', 'Pro:price_1', 'pro:price_1,pro:price_2', 'pro:price_1,team:price_1']) {
      expect(() => loadConfig({ PLAN_PRICES: bad })).toThrow(ConfigError);
    }
  });

  it('read PLAN_ALLOWANCES, PLAN_ALLOWANCE_ROLLOVER_CAP and SWEEP_INTERVAL_SECONDS', () => {
    const config = loadConfig({ PLAN_ALLOWANCES: ' free:3, pro:50 ', PLAN_ALLOWANCE_ROLLOVER_CAP: '20', SWEEP_INTERVAL_SECONDS: '0' });
    expect([...config.credits.planAllowances]).toEqual([
      ['free', 3],
      ['pro', 50],
    ]);
    expect(config.credits.allowanceRolloverCap).toBe(20);
    expect(config.credits.sweepIntervalSeconds).toBe(0);
  });

  it.each([
    ['PLAN_ALLOWANCES', 'pro'],
    ['PLAN_ALLOWANCES', 'pro:-1'],
    ['PLAN_ALLOWANCES', 'Pro:5'],
    ['PLAN_ALLOWANCES', 'pro:5,pro:6'],
    ['PLAN_ALLOWANCES', 'pro:2000000'],
    ['PLAN_ALLOWANCE_ROLLOVER_CAP', '-1'],
    ['SWEEP_INTERVAL_SECONDS', 'soon'],
    ['SWEEP_INTERVAL_SECONDS', '86401'],
  ])('rejects %s=%s with a ConfigError naming it', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [variable]: value })).toThrow(new RegExp(`^Invalid ${variable}:`));
  });
});
