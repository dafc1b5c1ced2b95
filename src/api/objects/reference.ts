/** Countries, currencies, data centres and zones as the Core API returns them. */
import { BooleanScalar, StringScalar } from '../framework/scalars.js';
import { objectType } from '../framework/types.js';

export const flag = (name: string) => (source: Record<string, unknown>) => source[name] === 1 || source[name] === true;

export const CountryObject = objectType({
  id: 'CoreAPI/Objects/Country',
  name: 'Country',
  fields: {
    id: { type: StringScalar },
    name: { type: StringScalar },
    iso_code2: { type: StringScalar },
    iso_code3: { type: StringScalar },
    time_zone: { type: StringScalar, nullable: true },
    eu: { type: BooleanScalar, value: flag('eu') },
  },
});

export const CurrencyObject = objectType({
  id: 'CoreAPI/Objects/Currency',
  name: 'Currency',
  fields: {
    id: { type: StringScalar },
    name: { type: StringScalar },
    iso_code: { type: StringScalar },
    symbol: { type: StringScalar },
  },
});

export const DataCenterObject = objectType({
  id: 'CoreAPI/Objects/DataCenter',
  name: 'DataCenter',
  fields: {
    id: { type: StringScalar },
    name: { type: StringScalar },
    permalink: { type: StringScalar, nullable: true },
    country: { type: CountryObject },
  },
});

export const ZoneObject = objectType({
  id: 'CoreAPI/Objects/Zone',
  name: 'Zone',
  fields: {
    id: { type: StringScalar },
    name: { type: StringScalar },
    permalink: { type: StringScalar, nullable: true },
    data_center: { type: DataCenterObject },
  },
});
