// Public surface of the configuration layer.
export { ConfigError, type ConfigIssue } from './errors.js';
export { parseSize } from './size.js';
export * from './topology.js';
export { DEFAULT_TOPOLOGY, DEFAULT_SUBSYSTEM_NQN } from './default-topology.js';
export {
  LOG_LEVELS,
  loadConfig,
  loadSettings,
  type LoadConfigOptions,
  type LoadedConfig,
  type LoadSettingsOptions,
  type LogLevel,
  type Settings,
} from './settings.js';
