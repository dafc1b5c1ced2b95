/**
 * Countries, currencies, data centres and zones: fixed reference data, inserted at start-up when
 * missing (ids are fixed so every database agrees on them) and cached, since nothing changes it.
 */
import type { Kysely } from 'kysely';
import type { Country, Currency, DataCenter, Database, Zone } from '../store/schema.js';

export const COUNTRIES: readonly Country[] = [
  { id: 'ctry_6AO9tYYugvTGnd5b', name: 'United Kingdom', iso_code2: 'GB', iso_code3: 'GBR', time_zone: 'Europe/London', eu: 0 },
  { id: 'ctry_Us4NewYorkTz0000', name: 'United States of America', iso_code2: 'US', iso_code3: 'USA', time_zone: 'America/New_York', eu: 0 },
  { id: 'ctry_Nl4AmsterdamTz00', name: 'Netherlands', iso_code2: 'NL', iso_code3: 'NLD', time_zone: 'Europe/Amsterdam', eu: 1 },
  { id: 'ctry_De4BerlinTz00001', name: 'Germany', iso_code2: 'DE', iso_code3: 'DEU', time_zone: 'Europe/Berlin', eu: 1 },
  { id: 'ctry_Au4SydneyTz00001', name: 'Australia', iso_code2: 'AU', iso_code3: 'AUS', time_zone: 'Australia/Sydney', eu: 0 },
  { id: 'ctry_Np4KathmanduTz01', name: 'Nepal', iso_code2: 'NP', iso_code3: 'NPL', time_zone: 'Asia/Kathmandu', eu: 0 },
  { id: 'ctry_Jp4TokyoTz000001', name: 'Japan', iso_code2: 'JP', iso_code3: 'JPN', time_zone: 'Asia/Tokyo', eu: 0 },
  { id: 'ctry_In4KolkataTz0001', name: 'India', iso_code2: 'IN', iso_code3: 'IND', time_zone: 'Asia/Kolkata', eu: 0 },
  { id: 'ctry_Br4SaoPauloTz001', name: 'Brazil', iso_code2: 'BR', iso_code3: 'BRA', time_zone: 'America/Sao_Paulo', eu: 0 },
  { id: 'ctry_Nz4AucklandTz001', name: 'New Zealand', iso_code2: 'NZ', iso_code3: 'NZL', time_zone: 'Pacific/Auckland', eu: 0 },
  { id: 'ctry_Zz4NoTimeZone001', name: 'International', iso_code2: 'ZZ', iso_code3: 'ZZZ', time_zone: null, eu: 0 },
];

export const CURRENCIES: readonly Currency[] = [
  { id: 'cur_GbpPoundSterling', name: 'British Pounds', iso_code: 'GBP', symbol: '£' },
  { id: 'cur_EurEuro000000001', name: 'Euros', iso_code: 'EUR', symbol: '€' },
  { id: 'cur_UsdDollar0000001', name: 'US Dollars', iso_code: 'USD', symbol: '$' },
];

export const DATA_CENTERS: readonly DataCenter[] = [
  { id: 'loc_UUhPmoCbpic6UX0Y', name: 'London', permalink: 'uk-lon-01', country_id: 'ctry_6AO9tYYugvTGnd5b' },
  { id: 'loc_Ams4Amsterdam000', name: 'Amsterdam', permalink: 'nl-ams-01', country_id: 'ctry_Nl4AmsterdamTz00' },
];

export const ZONES: readonly Zone[] = [
  { id: 'zone_Lon4ZoneA0000010', name: 'London (Zone A)', permalink: 'uk-lon-01-a', data_center_id: 'loc_UUhPmoCbpic6UX0Y' },
  { id: 'zone_Ams4ZoneA0000010', name: 'Amsterdam (Zone A)', permalink: 'nl-ams-01-a', data_center_id: 'loc_Ams4Amsterdam000' },
];

export const DEFAULT_COUNTRY_ID = COUNTRIES[0]!.id;
export const DEFAULT_ZONE_ID = ZONES[0]!.id;

export async function insertMissingReferenceData(db: Kysely<Database>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const insert = async <T extends 'countries' | 'currencies' | 'data_centers' | 'zones'>(
      table: T,
      rows: readonly Database[T][],
    ) => {
      for (const row of rows) {
        await trx
          .insertInto(table)
          .values(row as never)
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
      }
    };
    await insert('countries', COUNTRIES);
    await insert('currencies', CURRENCIES);
    await insert('data_centers', DATA_CENTERS);
    await insert('zones', ZONES);
  });
}

export interface DataCenterRecord extends DataCenter {
  readonly country: Country;
}

export interface ZoneRecord extends Zone {
  readonly data_center: DataCenterRecord;
}

const countriesById = new Map(COUNTRIES.map((c) => [c.id, c]));
const currenciesById = new Map(CURRENCIES.map((c) => [c.id, c]));
const dataCentersById = new Map(
  DATA_CENTERS.map((dc) => [dc.id, { ...dc, country: countriesById.get(dc.country_id)! } satisfies DataCenterRecord]),
);
const zonesById = new Map(
  ZONES.map((z) => [z.id, { ...z, data_center: dataCentersById.get(z.data_center_id)! } satisfies ZoneRecord]),
);

export const reference = {
  country: (id: string | null) => (id === null ? null : (countriesById.get(id) ?? null)),
  currency: (id: string) => currenciesById.get(id) ?? CURRENCIES[0]!,
  dataCenter: (id: string) => dataCentersById.get(id) ?? null,
  zone: (id: string) => zonesById.get(id) ?? null,
  countryByIsoCode: (code: string) => COUNTRIES.find((c) => c.iso_code2 === code.toUpperCase()) ?? null,
  countryByTimeZone: (timeZone: string) => COUNTRIES.find((c) => c.time_zone === timeZone) ?? null,
  currencyByIsoCode: (code: string) => CURRENCIES.find((c) => c.iso_code === code.toUpperCase()) ?? null,
  dataCenterByPermalink: (permalink: string) => [...dataCentersById.values()].find((dc) => dc.permalink === permalink) ?? null,
  zoneByPermalink: (permalink: string) => [...zonesById.values()].find((z) => z.permalink === permalink) ?? null,
};
