/**
 * Virtual machines. Parts of the real object this product does not model (groups, packages, ISOs,
 * GPUs, tags, IP addresses, hypervisors) are always null or empty here; their shapes are kept so
 * clients and the OpenAPI document see the real field set.
 */
import { BooleanScalar, IntegerScalar, StringScalar, UnixTimeScalar } from '../framework/scalars.js';
import { enumType, objectType } from '../framework/types.js';
import { OrganizationObject } from './organization.js';
import { DataCenterObject, ZoneObject } from './reference.js';

export const VirtualMachineStateEnum = enumType('CoreAPI/Objects/VirtualMachineStateEnum', 'VirtualMachineStateEnum', [
  'stopped', 'failed', 'started', 'starting', 'allocated', 'allocating', 'resetting', 'migrating', 'stopping',
  'shutting_down', 'transferring', 'orphaned',
]);

const named = (id: string, name: string, extra: Record<string, { type: typeof StringScalar }> = {}) =>
  objectType({ id, name, fields: { id: { type: StringScalar }, name: { type: StringScalar }, ...extra } });

export const VirtualMachineGroupObject = named('CoreAPI/Objects/VirtualMachineGroup', 'VirtualMachineGroup');
export const VirtualMachinePackageObject = named('CoreAPI/Objects/VirtualMachinePackage', 'VirtualMachinePackage', {
  permalink: { type: StringScalar },
});
export const ISOObject = named('CoreAPI/Objects/ISO', 'ISO');
export const HypervisorObject = named('CoreAPI/Objects/Hypervisor', 'Hypervisor', { ip_address: { type: StringScalar } });
export const TagObject = named('CoreAPI/Objects/Tag', 'Tag', { color: { type: StringScalar } });
export const GPUTypeObject = objectType({
  id: 'CoreAPI/Objects/GPUType',
  name: 'GPUType',
  fields: {
    id: { type: StringScalar },
    name: { type: StringScalar },
    manufacturer: { type: StringScalar },
    memory_in_gb: { type: IntegerScalar },
    memory_type: { type: StringScalar },
    permalink: { type: StringScalar },
    data_centers: { type: DataCenterObject, array: true },
  },
});
export const VirtualMachineGPUObject = objectType({
  id: 'CoreAPI/Objects/VirtualMachineGPU',
  name: 'VirtualMachineGPU',
  fields: { id: { type: StringScalar }, status: { type: StringScalar }, type: { type: GPUTypeObject } },
});
export const IPAddressObject = objectType({
  id: 'CoreAPI/Objects/IPAddress',
  name: 'IPAddress',
  fields: {
    id: { type: StringScalar },
    address: { type: StringScalar },
    reverse_dns: { type: StringScalar },
    vip: { type: BooleanScalar },
    label: { type: StringScalar, nullable: true },
    address_with_mask: { type: StringScalar },
    allocation_id: { type: StringScalar, nullable: true },
    allocation_type: { type: StringScalar, nullable: true },
  },
});

const none = () => null;
const empty = () => [];

export const VirtualMachineObject = objectType({
  id: 'CoreAPI/Objects/VirtualMachine',
  name: 'VirtualMachine',
  fields: {
    id: { type: StringScalar },
    name: { type: StringScalar },
    hostname: { type: StringScalar },
    fqdn: { type: StringScalar },
    description: { type: StringScalar, nullable: true },
    created_at: { type: UnixTimeScalar },
    initial_root_password: { type: StringScalar, nullable: true, value: none },
    state: { type: VirtualMachineStateEnum },
    zone: { type: ZoneObject },
    organization: { type: OrganizationObject },
    group: { type: VirtualMachineGroupObject, nullable: true, value: none },
    package: { type: VirtualMachinePackageObject, nullable: true, value: none },
    attached_iso: { type: ISOObject, nullable: true, value: none },
    memory_in_gb: { type: IntegerScalar, nullable: true },
    cpu_cores: { type: IntegerScalar, nullable: true },
    use_dedicated_cpus: { type: BooleanScalar, nullable: true, value: () => false },
    gpu_type: { type: GPUTypeObject, nullable: true, value: none },
    gpus: { type: VirtualMachineGPUObject, array: true, value: empty },
    tags: { type: TagObject, array: true, value: empty },
    tag_names: { type: StringScalar, array: true, value: empty },
    ip_addresses: { type: IPAddressObject, array: true, value: empty },
    hypervisor: { type: HypervisorObject, nullable: true, value: none },
  },
});
