import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { ADMIN_ROLE, type RequestContext } from '../core/context.js';
import { ListSize } from '../core/cost.js';
import { DEFAULT_PAGE_SIZE } from '../core/pagination.js';
import { idOf, text } from '../core/validation.js';
import { ALL_EVENT_TYPES, EVENT_TYPES } from './event-types.js';
import { WebhookDelivery, WebhookDeliveryConnection } from './webhook-delivery.model.js';
import { deliveriesPage, redeliver } from './webhook-deliveries.js';
import { MAX_DESCRIPTION_LENGTH, WebhookEndpoint, WebhookEndpointWithSecret } from './webhook-endpoint.model.js';
import { createEndpoint, deleteEndpoint, listEndpoints, MAX_WEBHOOK_ENDPOINTS, ROTATION_GRACE_HOURS, rotateSecret, updateEndpoint } from './webhook-endpoints.js';
import { CreateWebhookEndpointInput, UpdateWebhookEndpointInput } from './webhook.input.js';
import { endpointUrl, eventTypeList } from './webhook-validation.js';

const description = (field: string, value: string | null | undefined) =>
  value === null || value === undefined ? undefined : value.trim() === '' ? null : text(field, value, { max: MAX_DESCRIPTION_LENGTH });

/** Webhook endpoints and their deliveries: admin only. */
@Resolver()
export class WebhooksResolver {
  @Authorized(ADMIN_ROLE)
  @ListSize(EVENT_TYPES.length)
  @Query(() => [String], { description: `Every event type an endpoint can subscribe to (or "${ALL_EVENT_TYPES}" for all) (admin).` })
  webhookEventTypes() {
    return EVENT_TYPES;
  }

  @Authorized(ADMIN_ROLE)
  @ListSize(MAX_WEBHOOK_ENDPOINTS)
  @Query(() => [WebhookEndpoint], { description: `Webhook endpoints, oldest first (admin; at most ${MAX_WEBHOOK_ENDPOINTS}, the most there can be).` })
  webhookEndpoints(@Ctx() ctx: RequestContext) {
    return listEndpoints(ctx.em);
  }

  @Authorized(ADMIN_ROLE)
  @Query(() => WebhookDeliveryConnection, { description: "An endpoint's deliveries, newest first (admin)." })
  webhookDeliveries(
    @Arg('endpointId', () => ID) endpointId: string,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return deliveriesPage(ctx.em, idOf('we', 'endpointId', endpointId), { first, after });
  }

  @Authorized(ADMIN_ROLE)
  @Mutation(() => WebhookEndpointWithSecret, { description: 'A new endpoint, enabled, with its signing secret (shown only here and on rotation) (admin).' })
  createWebhookEndpoint(@Arg('input', () => CreateWebhookEndpointInput) input: CreateWebhookEndpointInput, @Ctx() ctx: RequestContext) {
    return createEndpoint(ctx.em, {
      url: endpointUrl('input.url', input.url, ctx.services.config.webhooks),
      eventTypes: eventTypeList('input.eventTypes', input.eventTypes),
      description: description('input.description', input.description) ?? null,
    });
  }

  @Authorized(ADMIN_ROLE)
  @Mutation(() => WebhookEndpoint, { description: 'Changes what is given (admin). While disabled an endpoint is sent nothing, and events recorded meanwhile are not queued for it; enabling resumes the deliveries already queued.' })
  updateWebhookEndpoint(@Arg('input', () => UpdateWebhookEndpointInput) input: UpdateWebhookEndpointInput, @Ctx() ctx: RequestContext) {
    return updateEndpoint(ctx.em, {
      id: idOf('we', 'input.id', input.id),
      url: input.url == null ? undefined : endpointUrl('input.url', input.url, ctx.services.config.webhooks),
      eventTypes: input.eventTypes == null ? undefined : eventTypeList('input.eventTypes', input.eventTypes),
      description: description('input.description', input.description),
      enabled: input.enabled ?? undefined,
    });
  }

  @Authorized(ADMIN_ROLE)
  @Mutation(() => Boolean, { description: 'Deletes an endpoint; its unfinished deliveries fail, and its delivery history stays readable (admin).' })
  deleteWebhookEndpoint(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return deleteEndpoint(ctx.em, idOf('we', 'id', id));
  }

  @Authorized(ADMIN_ROLE)
  @Mutation(() => WebhookEndpointWithSecret, {
    description: `A new signing secret; the previous one also signs for ${ROTATION_GRACE_HOURS} hours, so receivers can switch over (admin).`,
  })
  rotateWebhookEndpointSecret(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return rotateSecret(ctx.em, idOf('we', 'id', id));
  }

  @Authorized(ADMIN_ROLE)
  @Mutation(() => WebhookDelivery, {
    description: 'Sends an event to an endpoint again now, delivered or failed before, with the same webhook-id (admin).',
  })
  redeliverWebhookEvent(@Arg('endpointId', () => ID) endpointId: string, @Arg('eventId', () => ID) eventId: string, @Ctx() ctx: RequestContext) {
    return redeliver(ctx.em, idOf('we', 'endpointId', endpointId), idOf('evt', 'eventId', eventId));
  }
}
