import { BooleanScalar, StringScalar, UnixTimeScalar } from '../framework/scalars.js';
import { objectType } from '../framework/types.js';
import { CountryObject, CurrencyObject, flag } from './reference.js';

export const CountryStateObject = objectType({
  id: 'CoreAPI/Objects/CountryState',
  name: 'CountryState',
  fields: {
    id: { type: StringScalar },
    name: { type: StringScalar },
    code: { type: StringScalar },
    country: { type: CountryObject },
  },
});

export const OrganizationObject = objectType({
  id: 'CoreAPI/Objects/Organization',
  name: 'Organization',
  fields: {
    id: { type: StringScalar },
    name: { type: StringScalar },
    sub_domain: { type: StringScalar },
    infrastructure_domain: { type: StringScalar },
    created_at: { type: UnixTimeScalar },
    activated_at: { type: UnixTimeScalar, nullable: true },
    suspended: { type: BooleanScalar, value: flag('suspended') },
    managed: { type: BooleanScalar, value: flag('managed') },
    billing_name: { type: StringScalar, nullable: true },
    address1: { type: StringScalar, nullable: true },
    address2: { type: StringScalar, nullable: true },
    address3: { type: StringScalar, nullable: true },
    address4: { type: StringScalar, nullable: true },
    postcode: { type: StringScalar, nullable: true },
    vat_number: { type: StringScalar, nullable: true },
    phone_number: { type: StringScalar, nullable: true },
    currency: { type: CurrencyObject },
    country: { type: CountryObject, nullable: true },
    country_state: { type: CountryStateObject, nullable: true, value: () => null },
  },
});
