import { defineEndpoint } from '../../../framework/endpoint.js';
import { KeyValueObject } from '../../../objects/key-value.js';
import { VirtualMachineObject } from '../../../objects/virtual-machine.js';
import { VirtualMachineLookup } from '../lookups.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/VirtualMachines/InfoEndpoint',
  name: 'Get virtual machine',
  description: 'Return information about a virtual machine',
  method: 'GET',
  route: 'virtual_machines/:virtual_machine',
  tag: 'Virtual machines',
  scopes: ['virtual_machines', 'virtual_machines:read'],
  arguments: {
    virtual_machine: { type: VirtualMachineLookup, required: true },
  },
  errors: [],
  fields: {
    virtual_machine: { type: VirtualMachineObject, spec: '*,gpu_type[*,-data_centers],gpus[*,type[*,-data_centers]]' },
    annotations: { type: KeyValueObject, array: true },
  },
  async action({ args }) {
    return { virtual_machine: args.virtual_machine, annotations: [] };
  },
});
