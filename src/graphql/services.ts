import type { AppServices } from '../core/context.js';
import type { TokenVerifier } from './auth.js';

/** Everything the process builds once at start: the features' dependencies and the edge's token verifier. */
export interface Services extends AppServices {
  verifyToken: TokenVerifier;
}
