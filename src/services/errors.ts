/**
 * Failures a use case reports to whoever called it (the API, the CLI). They carry no HTTP status:
 * each caller decides how to show them.
 */
export class ValidationFailed extends Error {
  constructor(readonly errors: readonly string[]) {
    super(errors.join('; '));
  }
}

/** A scheduled deletion too close to now (or in the past). */
export class InvalidTimestamp extends Error {
  constructor(readonly earliest: number) {
    super(`The time must be at least 5 minutes in the future (not before ${earliest})`);
  }
}

/** A referenced object (by the CLI, say) does not exist. */
export class NotFound extends Error {}
