/**
 * Per-message links the renderer puts into bulk mail. The tracking module implements it
 * (signed tokens on MAILERDASH_PUBLIC_URL); the delivery pipeline only calls it.
 */
export interface MessageLinks {
  /** One-click unsubscribe (RFC 8058): POST unsubscribes, GET shows a confirmation page. */
  unsubscribeUrl(messageId: string): string;
  /** mailto: form for List-Unsubscribe, on the bounce domain. */
  unsubscribeMailto(messageId: string): string;
  /**
   * The VERP envelope sender `b-<signed token>@<bounce domain>`: a DSN to it names the message, and
   * only a token we signed is accepted, so a forged bounce cannot suppress an address.
   */
  returnPath(messageId: string): string;
  openPixelUrl(messageId: string): string;
  /** A redirect that records the click, then goes to targetUrl (which the token binds: no open redirect). */
  clickUrl(messageId: string, targetUrl: string): string;
}
