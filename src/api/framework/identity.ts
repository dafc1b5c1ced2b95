/** Who is calling: resolved from the API token before any argument is read. */
export interface Identity {
  readonly tokenId: string;
  readonly organizationId: string;
  readonly scopes: ReadonlySet<string>;
  /** The token's requests per minute (a token it makes may not have more). */
  readonly rateLimit: number;
}
