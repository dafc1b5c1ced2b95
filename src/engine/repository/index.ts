/** The backup repository: see contract.ts (what it promises) and docs/REPOSITORY.md (its format). */
export * from './contract.js';
export { RepositoryError } from './errors.js';
export { MAX_IMMUTABLE_DAYS, TEST_DAY_SECONDS_VARIABLE } from './immutability.js';
export { DEFAULT_CHUNK_SIZE, initRepository, openRepository } from './repository.js';
