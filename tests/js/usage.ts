// A small client that uses the generated types the way a frontend would.
// `tsc --noEmit` must accept it: the generated types compile and carry the API's names.
import type {
  CreatePartyMutation,
  ErrorCode,
  FirstLookQuery,
  LoginMutation,
  MeQuery,
  RegisterMutation,
  RegisterMutationVariables,
  SendSignalMutationVariables,
  SignalKind,
  SignalsSubscription,
} from './generated/operations';
import type { AuthPayload, User } from './generated/schema';

/** Schema types (typescript plugin) next to operation types (typescript-operations). */
export type Viewer = Pick<User, 'id' | 'email' | 'displayName'>;
export const viewerOf = (payload: Pick<AuthPayload, 'user'>): Viewer => payload.user;

export function registerVariables(email: string, password: string): RegisterMutationVariables {
  return { input: { email, password, displayName: 'Ada Lovelace' } };
}

/** The access token on success, or the user-facing error. */
export function accessToken(result: RegisterMutation): { token: string } | { error: string } {
  const payload = result.register;
  switch (payload.__typename) {
    case 'AuthPayload': {
      const expires: string = payload.accessTokenExpiresAt;
      return { token: `${payload.accessToken} (until ${expires}) for ${payload.user.id}` };
    }
    default: {
      const code: ErrorCode = payload.code;
      return { error: `${code}: ${payload.message}${payload.field ? ` (${payload.field})` : ''}` };
    }
  }
}

export function retryAfter(result: LoginMutation): number | null {
  return result.login.__typename === 'RateLimited' ? result.login.retryAfterSeconds : null;
}

export function greeting(result: MeQuery): string {
  return result.me ? `Hello, ${result.me.displayName}` : 'Hello, stranger';
}

const sample: ErrorCode[] = ['VALIDATION', 'NOT_AUTHENTICATED', 'RATE_LIMITED'];
export const knownCodes: readonly ErrorCode[] = sample;

/** The room code to share: a string, never null, in the host's own createParty result. */
export function roomCode(result: CreatePartyMutation): string | null {
  return result.createParty.__typename === 'PartyPayload' ? result.createParty.partyCode : null;
}

/** DateTime maps to string (ISO 8601); `queue` is a page (20 by default, `first: 200` for all). */
export function queueSummary(result: FirstLookQuery): string[] {
  return (result.myParties?.edges ?? []).map(({ node }) => {
    const shown: number = node.queue.length;
    return `${node.title}: ${shown} of ${node.queueLength} queued`;
  });
}

/** The JSON scalar maps to `unknown`: send browser objects as they are... */
export function offerVariables(
  partyId: string,
  toUserId: string,
  offer: RTCSessionDescriptionInit,
): SendSignalMutationVariables {
  const kind: SignalKind = 'OFFER';
  return { input: { partyId, toUserId, kind, payload: offer } };
}

/** ...and narrow what arrives by its kind. */
export function received(
  signal: SignalsSubscription['signals'],
): RTCSessionDescriptionInit | RTCIceCandidateInit {
  return signal.kind === 'ICE_CANDIDATE'
    ? (signal.payload as RTCIceCandidateInit)
    : (signal.payload as RTCSessionDescriptionInit);
}
