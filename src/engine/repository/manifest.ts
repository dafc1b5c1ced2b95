/** A backup's manifest: what the image was and which chunks, in order, make it (docs/REPOSITORY.md). */
import { readFileSync } from 'node:fs';
import type { BackupSummary } from './contract.js';
import { RepositoryError } from './errors.js';
import type { RepositoryKeys } from './keys.js';
import { BACKUP_ID, CHUNK_ID, manifestName, manifestPath } from './layout.js';
import { seal, unseal, UnsealError } from './sealing.js';

export interface Manifest {
  readonly format: 2;
  readonly id: string;
  readonly startedAt: number;
  readonly createdAt: number;
  readonly diskSize: number;
  readonly chunkSize: number;
  readonly tags: Record<string, string>;
  /** One entry per chunk of the image, in order: its id, or null for an all-zero chunk (not stored). */
  readonly chunks: (string | null)[];
}

export function sealManifest(manifest: Manifest, keys: RepositoryKeys): Buffer[] {
  return seal(Buffer.from(JSON.stringify(manifest)), manifestName(manifest.id), keys.encryption);
}

export function readManifest(root: string, backupId: string, keys: RepositoryKeys): Manifest {
  if (!BACKUP_ID.test(backupId)) throw new RepositoryError('backup_not_found', `No backup ${backupId} in the repository`);
  let stored: Buffer;
  try {
    stored = readFileSync(manifestPath(root, backupId));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new RepositoryError('backup_not_found', `No backup ${backupId} in the repository (its manifest is missing)`);
    }
    throw error;
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(unseal(stored, manifestName(backupId), keys.encryption).toString('utf8')) as Manifest;
  } catch (error) {
    if (error instanceof UnsealError || error instanceof SyntaxError) {
      throw new RepositoryError('corrupt_manifest', `The manifest of backup ${backupId} cannot be read: ${error.message}`);
    }
    throw error;
  }
  const problem = manifestProblem(manifest, backupId);
  if (problem) throw new RepositoryError('corrupt_manifest', `The manifest of backup ${backupId} is not valid: ${problem}`);
  return manifest;
}

function manifestProblem(manifest: Manifest, backupId: string): string | undefined {
  if (manifest.format !== 2) return `unknown format ${String(manifest.format)}`;
  if (manifest.id !== backupId) return 'it names another backup';
  if (!Number.isSafeInteger(manifest.diskSize) || manifest.diskSize < 0) return 'bad disk size';
  if (!Number.isSafeInteger(manifest.chunkSize) || manifest.chunkSize <= 0) return 'bad chunk size';
  if (!Array.isArray(manifest.chunks) || manifest.chunks.length !== Math.ceil(manifest.diskSize / manifest.chunkSize)) return 'wrong number of chunks';
  for (const id of manifest.chunks) {
    if (id !== null && (typeof id !== 'string' || !CHUNK_ID.test(id))) return `bad chunk entry ${String(id)}`;
  }
  return undefined;
}

export function summaryOf(manifest: Manifest): BackupSummary {
  return {
    id: manifest.id,
    createdAt: manifest.createdAt,
    startedAt: manifest.startedAt,
    diskSize: manifest.diskSize,
    chunkSize: manifest.chunkSize,
    chunkCount: manifest.chunks.length,
    tags: manifest.tags,
  };
}
