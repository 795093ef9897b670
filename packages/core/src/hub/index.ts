export { COMMIT_HASH_PATTERN, HubRepoCache, hubCacheDirectory, isTrueEnvironmentValue, repoCacheFolderName } from './hub-cache.js';
export {
  DEFAULT_HUB_ENDPOINT,
  DEFAULT_HUB_REVISION,
  HUB_TOKENIZER_FILES,
  isHubRepoId,
  resolvePretrainedFolder,
  type ResolvePretrainedFolderOptions,
} from './hub-download.js';
