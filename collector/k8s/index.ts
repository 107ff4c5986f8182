export { AddressMap } from './address-map.js';
export type { AddressMapOptions } from './address-map.js';
export { AddressBook, DEFAULT_ENDED_RETENTION_MS, START_GRACE_MS } from './address-book.js';
export type { AddressMapping, MappingKind, SeenMapping } from './address-book.js';
export { ADDRESS_FLUSH_EVERY_MS, ADDRESS_RESTAMP_EVERY_MS, AddressTable } from './address-table.js';
export type { AddressTableOptions } from './address-table.js';
export { canonicalAddress } from './address-text.js';
export { attribute } from './attribution.js';
export type { Attribution } from './attribution.js';
export { FlowEndNamer, unnamed } from './flow-ends.js';
export type { FlowEnds, FlowEvent, NameFlowEnds } from './flow-ends.js';
export {
  INVENTORY_KINDS,
  Inventory,
  InventoryError,
  loadInventory,
  parseInventory,
} from './inventory.js';
export type { InventoryEntry, InventoryKind } from './inventory.js';
export {
  endpointSliceAddresses,
  nodeAddresses,
  podAddresses,
  serviceAddresses,
} from './kube-addresses.js';
