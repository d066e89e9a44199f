/** The CAEP and RISC event types Latch names (SSF 1.0, OpenID CAEP 1.0, OpenID RISC 1.0). */
const CAEP = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC = "https://schemas.openid.net/secevent/risc/event-type/";

export const EVENT_TYPES = {
  sessionRevoked: `${CAEP}session-revoked`,
  credentialChange: `${CAEP}credential-change`,
  tokenClaimsChange: `${CAEP}token-claims-change`,
  assuranceLevelChange: `${CAEP}assurance-level-change`,
  deviceComplianceChange: `${CAEP}device-compliance-change`,
  accountDisabled: `${RISC}account-disabled`,
  accountEnabled: `${RISC}account-enabled`,
  accountPurged: `${RISC}account-purged`,
  accountCredentialChangeRequired: `${RISC}account-credential-change-required`,
  credentialCompromise: `${RISC}credential-compromise`,
} as const;

export const KNOWN_EVENT_TYPES: ReadonlySet<string> = new Set(Object.values(EVENT_TYPES));
