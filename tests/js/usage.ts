// A small client that uses the generated types the way a frontend would.
// `tsc --noEmit` must accept it: the generated types compile and carry the API's names.
import type {
  ErrorCode,
  LoginMutation,
  MeQuery,
  RegisterMutation,
  RegisterMutationVariables,
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
