import { registerEnumType } from 'type-graphql';

export enum ReservationStatus {
  HELD = 'held',
  CAPTURED = 'captured',
  RELEASED = 'released',
  EXPIRED = 'expired',
}
registerEnumType(ReservationStatus, {
  name: 'ReservationStatus',
  valuesConfig: {
    HELD: { description: 'Credits are set aside; capture or release it before expiresAt.' },
    CAPTURED: { description: 'Charged: capturedAmount left the balance as one CONSUMPTION row, the rest was freed.' },
    RELEASED: { description: 'Freed without a charge.' },
    EXPIRED: { description: 'Not resolved before expiresAt; freed without a charge.' },
  },
});
