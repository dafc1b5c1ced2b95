/** The backup repository: see contract.ts (what it promises) and docs/REPOSITORY.md (its format). */
export * from './contract.js';
export { RepositoryError } from './errors.js';
export { DEFAULT_CHUNK_SIZE, openRepository } from './repository.js';
