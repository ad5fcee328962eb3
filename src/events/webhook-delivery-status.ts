import { registerEnumType } from 'type-graphql';

export enum WebhookDeliveryStatus {
  PENDING = 'pending',
  SENDING = 'sending',
  DELIVERED = 'delivered',
  FAILED = 'failed',
}
registerEnumType(WebhookDeliveryStatus, {
  name: 'WebhookDeliveryStatus',
  valuesConfig: {
    PENDING: { description: 'Waiting for its next attempt (the first, or a retry at nextAttemptAt).' },
    SENDING: { description: 'An attempt is under way.' },
    DELIVERED: { description: 'The endpoint answered 2xx.' },
    FAILED: { description: 'Every attempt failed (or the endpoint was deleted first); redeliverWebhookEvent sends it again.' },
  },
});
