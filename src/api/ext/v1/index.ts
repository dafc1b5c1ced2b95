/** The extension endpoints (backups), served under /ext/v1/ with their own OpenAPI document. */
import type { EndpointDefinition } from '../../framework/endpoint.js';
import listBackups from './backups/list.js';
import restoreBackup from './backups/restore.js';
import verifyBackup from './backups/verify.js';
import runPolicy from './policies/run.js';

export const extensionEndpoints: readonly EndpointDefinition[] = [listBackups, runPolicy, restoreBackup, verifyBackup];
