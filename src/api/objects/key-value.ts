import { StringScalar } from '../framework/scalars.js';
import { objectType } from '../framework/types.js';

/** An annotation: the OpenAPI 2.68 `KeyValue` (`key` required, `value` may be null). */
export const KeyValueObject = objectType({
  id: 'CoreAPI/Objects/KeyValue',
  name: 'KeyValue',
  fields: {
    key: { type: StringScalar },
    value: { type: StringScalar, nullable: true },
  },
});
