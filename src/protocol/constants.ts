// NVMe and NVMe/TCP numeric constants, declared once (NVMe Base 2.0, NVM Command Set 1.0,
// NVMe/TCP Transport 1.0). Handlers use these names, never bare numbers.

export const DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery';

/** NVMe/TCP PDU types (TCP transport spec, figure "PDU types"). */
export const PduType = {
  ICReq: 0x00,
  ICResp: 0x01,
  H2CTermReq: 0x02,
  C2HTermReq: 0x03,
  CapsuleCmd: 0x04,
  CapsuleResp: 0x05,
  H2CData: 0x06,
  C2HData: 0x07,
  R2T: 0x09,
} as const;

export const PduFlag = {
  HDGSTF: 0x01,
  DDGSTF: 0x02,
  LAST_PDU: 0x04,
  SUCCESS: 0x08,
} as const;

/** Header lengths fixed by the transport spec. */
export const PduHlen = {
  ICReq: 128,
  ICResp: 128,
  TermReq: 24,
  CapsuleCmd: 72,
  CapsuleResp: 24,
  H2CData: 24,
  C2HData: 24,
  R2T: 24,
} as const;

/** C2HTermReq / H2CTermReq fatal error status (FES). */
export const TermFes = {
  InvalidHeaderField: 0x01,
  PduSequenceError: 0x02,
  HeaderDigestError: 0x03,
  DataTransferOutOfRange: 0x04,
  DataTransferLimitExceeded: 0x05,
  UnsupportedParameter: 0x06,
} as const;

/** A TermReq PDU is at most 152 bytes, so at most 128 bytes of the offending header are echoed. */
export const TERM_REQ_MAX_DATA = 128;

export const AdminOpcode = {
  DeleteIoSq: 0x00,
  CreateIoSq: 0x01,
  GetLogPage: 0x02,
  DeleteIoCq: 0x04,
  CreateIoCq: 0x05,
  Identify: 0x06,
  Abort: 0x08,
  SetFeatures: 0x09,
  GetFeatures: 0x0a,
  AsyncEventRequest: 0x0c,
  NamespaceManagement: 0x0d,
  FirmwareCommit: 0x10,
  FirmwareDownload: 0x11,
  DeviceSelfTest: 0x14,
  NamespaceAttachment: 0x15,
  KeepAlive: 0x18,
  DirectiveSend: 0x19,
  DirectiveReceive: 0x1a,
  Fabrics: 0x7f,
  FormatNvm: 0x80,
  SecuritySend: 0x81,
  SecurityReceive: 0x82,
  Sanitize: 0x84,
} as const;

export const FabricsType = {
  PropertySet: 0x00,
  Connect: 0x01,
  PropertyGet: 0x04,
  AuthSend: 0x05,
  AuthReceive: 0x06,
  Disconnect: 0x08,
} as const;

export const NvmOpcode = {
  Flush: 0x00,
  Write: 0x01,
  Read: 0x02,
  WriteUncorrectable: 0x04,
  Compare: 0x05,
  WriteZeroes: 0x08,
  DatasetManagement: 0x09,
  Verify: 0x0c,
  ZoneMgmtSend: 0x79,
  ZoneMgmtReceive: 0x7a,
  ZoneAppend: 0x7d,
} as const;

/** Data direction from the low two bits of an opcode (or a fabrics command type). */
export const DataDirection = { None: 0, HostToController: 1, ControllerToHost: 2, Bidirectional: 3 } as const;

export const IdentifyCns = {
  Namespace: 0x00,
  Controller: 0x01,
  ActiveNsList: 0x02,
  NsDescriptors: 0x03,
  CsNamespace: 0x05,
  CsController: 0x06,
  CsActiveNsList: 0x07,
  CsIndependentNamespace: 0x08,
  CommandSetCombinations: 0x1c,
} as const;

export const Csi = { Nvm: 0x00, KeyValue: 0x01, Zoned: 0x02 } as const;

export const LogPage = {
  ErrorInfo: 0x01,
  Smart: 0x02,
  FirmwareSlot: 0x03,
  ChangedNsList: 0x04,
  CommandEffects: 0x05,
  Discovery: 0x70,
  /** Zoned Namespace Command Set: Changed Zone List (Zone Descriptor Changed notices). */
  ChangedZoneList: 0xbf,
} as const;

export const FeatureId = {
  Arbitration: 0x01,
  PowerManagement: 0x02,
  TemperatureThreshold: 0x04,
  ErrorRecovery: 0x05,
  VolatileWriteCache: 0x06,
  NumberOfQueues: 0x07,
  InterruptCoalescing: 0x08,
  InterruptVectorConfig: 0x09,
  WriteAtomicity: 0x0a,
  AsyncEventConfig: 0x0b,
  AutonomousPowerState: 0x0c,
  HostMemoryBuffer: 0x0d,
  Timestamp: 0x0e,
  KeepAliveTimer: 0x0f,
  HostThermalMgmt: 0x10,
  NonOpPowerState: 0x11,
  HostBehavior: 0x16,
  SoftwareProgressMarker: 0x80,
  HostIdentifier: 0x81,
} as const;

/** Controller properties (register offsets) reachable through Property Get/Set. */
export const Property = { CAP: 0x00, VS: 0x08, CC: 0x14, CSTS: 0x1c, NSSR: 0x20 } as const;

/** Asynchronous event types and infos (CQE dword 0 of an AER completion). */
export const AsyncEvent = {
  TypeNotice: 0x2,
  InfoNsAttrChanged: 0x00,
  /** ZNS Command Set: Zone Descriptor Changed (log page BFh). */
  InfoZoneDescriptorChanged: 0xef,
  InfoDiscoveryChanged: 0xf0,
} as const;

/** Optional asynchronous events supported (OAES and Set Features 0Bh bits). */
export const Oaes = { NsAttr: 1 << 8, ZoneDescriptorChanged: 1 << 27, DiscoveryChange: 1 << 31 } as const;

/** NVMe version we report: 2.0.0. */
export const NVME_VERSION = 0x00020000;

/** Namespace identification descriptor types (CNS 03h). */
export const NidType = { Eui64: 1, Nguid: 2, Uuid: 3, Csi: 4 } as const;

/** SGL descriptor identifiers used by NVMe/TCP (type << 4 | subtype). */
export const SglId = { DataBlockOffset: 0x01, TransportDataBlock: 0x5a } as const;

/** Discovery log entry field values. */
export const Disc = {
  TrtypeTcp: 3,
  AdrfamIpv4: 1,
  AdrfamIpv6: 2,
  SubtypeReferral: 1,
  SubtypeNvm: 2,
  SubtypeCurrentDiscovery: 3,
  TreqNotSpecified: 0,
  EflagsEpcsd: 1 << 1,
  EflagsDupRetInfo: 1 << 0,
} as const;
