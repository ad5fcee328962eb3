import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('credit job settings', () => {
  it('default to a 30 s sweep, no allowances and no rollover', () => {
    expect(loadConfig({}).credits).toEqual({ sweepIntervalSeconds: 30, planAllowances: new Map(), allowanceRolloverCap: 0 });
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
