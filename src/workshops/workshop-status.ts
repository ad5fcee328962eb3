import { registerEnumType } from 'type-graphql';

export enum WorkshopStatus {
  DRAFT = 'draft',
  ACTIVE = 'active',
  PAUSED = 'paused',
  COMPLETED = 'completed',
}
registerEnumType(WorkshopStatus, { name: 'WorkshopStatus' });
