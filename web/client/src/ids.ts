// Document ids: 16 random bytes as 32 lowercase hex characters.

const HEX_ID = /^[0-9a-f]{32}$/;

/** A fresh document id (32 hex chars from crypto.getRandomValues). */
export function newDocumentId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Whether `id` is a document id (32 lowercase hex characters). */
export function isDocumentId(id: string): boolean {
  return HEX_ID.test(id);
}

/** Lowercase hex SHA-256 of `bytes` (the reducer digest the server uses). */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
