// Public API of the NVMe/TCP initiator library.
export { HostQueue, QueueError, fesName, type HostQueueOptions, type SubmitOptions, type SubmitResult } from './host-queue.js';
export { NvmeHost, NvmeStatusError, NvmeAuthError, type NvmeHostOptions, type SqeInput, type QidOption, type FeatureResult } from './host.js';
export { discover, readDiscoveryLog, type DiscoverOptions, type DiscoveryResult } from './discovery.js';
export { PduReader, PduStreamError, type PduHandler, type PduReaderOptions, type PduErrorKind } from './pdu-reader.js';
export type { DiscoveryLogEntry, DsmRange, IdentifyControllerInfo, NamespaceLbaInfo } from '../protocol/host-codecs.js';
export type { Cqe } from '../protocol/sqe.js';
export type { TermReq } from '../protocol/pdu.js';
export { DISCOVERY_NQN } from '../protocol/constants.js';
