export { SQLSyncProvider, type SQLSyncProviderProps } from './provider.js';
export { createDocHooks, type DocHooks, type QueryResult } from './hooks.js';
export type {
  ConnectionStatus,
  MutationHandle,
  OpenOptions,
  Rejection,
  SQLSyncDocument,
} from '@sqlsync/client';
