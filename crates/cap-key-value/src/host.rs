//! The guest interfaces: host bindings and their implementations.
//!
//! - `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft` (Wasmtime's version)
//! - `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2` (Spin 3's version,
//!   with compare-and-swap)
//! - `fermyon:spin/key-value@2.0.0` (`spin_sdk::key_value::Store`)
//!
//! Every handle (bucket, store, cas) lives in the caller's `ResourceTable`
//! and holds an [`crate::Store`]; opening checks the component's grants.

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::store::{CasOutcome, KvError, Store};
use crate::{KeyValueInstance, KeyValueView};

/// What `list-keys` pages hold at most; a cursor is returned when there are
/// more.
const LIST_PAGE: usize = 1000;

mod draft {
    wasmtime::component::bindgen!({
        path: "wit/keyvalue-draft",
        world: "wasi:keyvalue/imports",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": crate::host::DraftBucket,
        },
    });
}

mod draft2 {
    wasmtime::component::bindgen!({
        path: "wit/keyvalue-draft2",
        world: "wasi:keyvalue/imports",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": crate::host::Draft2Bucket,
            "wasi:keyvalue/atomics.cas": crate::host::Draft2Cas,
        },
    });
}

mod spin {
    wasmtime::component::bindgen!({
        path: "wit/spin-key-value",
        world: "fermyon:spin/key-value-imports",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/key-value.store": crate::host::SpinStore,
        },
    });
}

mod spin3 {
    wasmtime::component::bindgen!({
        path: "wit/spin-key-value-3",
        world: "nimbus:spin-key-value-3/imports",
        imports: { default: trappable },
        with: {
            "spin:key-value/key-value.store": crate::host::Spin3Store,
        },
    });
}

use draft::wasi::keyvalue as d1;
use draft2::wasi::keyvalue as d2;
use spin::fermyon::spin::key_value as sp;
use spin3::spin::key_value::key_value as sp3;

/// A `wasi:keyvalue@0.2.0-draft` bucket.
pub struct DraftBucket(Store);
/// A `wasi:keyvalue@0.2.0-draft2` bucket.
pub struct Draft2Bucket(Store);
/// A `wasi:keyvalue@0.2.0-draft2` compare-and-swap in progress: the value
/// seen when it was made, which `swap` expects to still be there.
pub struct Draft2Cas {
    store: Store,
    key: String,
    current: Option<Vec<u8>>,
}
/// A `fermyon:spin/key-value@2.0.0` store.
pub struct SpinStore(Store);
/// A `spin:key-value@3.0.0` store (spin-sdk 6 and 7): the same backend and
/// grants as [`SpinStore`].
pub struct Spin3Store(Store);

struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValueView<'a>;
}

/// Adds every key-value interface (both `wasi:keyvalue` drafts and
/// `fermyon:spin/key-value@2.0.0`) to `linker`; `get` finds the instance
/// state and resource table in the store's data.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    add_wasi_keyvalue_to_linker(linker, get)?;
    add_spin_key_value_to_linker(linker, get)
}

/// Adds `wasi:keyvalue/{store,atomics,batch}` at `0.2.0-draft` and
/// `0.2.0-draft2` to `linker`.
pub fn add_wasi_keyvalue_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    d1::store::add_to_linker::<T, HasKeyValue>(linker, get)?;
    d1::atomics::add_to_linker::<T, HasKeyValue>(linker, get)?;
    d1::batch::add_to_linker::<T, HasKeyValue>(linker, get)?;
    d2::store::add_to_linker::<T, HasKeyValue>(linker, get)?;
    d2::atomics::add_to_linker::<T, HasKeyValue>(linker, get)?;
    d2::batch::add_to_linker::<T, HasKeyValue>(linker, get)?;
    Ok(())
}

/// Adds `fermyon:spin/key-value@2.0.0` and, when `linker` takes concurrent
/// host functions ([`nimbus_capability::links_concurrent`]),
/// `spin:key-value@3.0.0` to `linker`.
pub fn add_spin_key_value_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    sp::add_to_linker::<T, HasKeyValue>(linker, get)?;
    if nimbus_capability::links_concurrent(linker) {
        sp3::add_to_linker::<T, HasKeyValue>(linker, get)?;
    }
    Ok(())
}

impl KeyValueView<'_> {
    fn instance(&self) -> &KeyValueInstance {
        self.instance
    }

    fn table(&mut self) -> &mut ResourceTable {
        self.table
    }
}

/// The keys of `all` (sorted) after `skip` of them, a page at a time.
fn page(all: Vec<String>, skip: usize) -> (Vec<String>, bool) {
    let rest: Vec<String> = all.into_iter().skip(skip).collect();
    let more = rest.len() > LIST_PAGE;
    (rest.into_iter().take(LIST_PAGE).collect(), more)
}

// --- wasi:keyvalue@0.2.0-draft ---------------------------------------------

impl From<KvError> for d1::store::Error {
    fn from(err: KvError) -> Self {
        match err {
            KvError::NoSuchStore => d1::store::Error::NoSuchStore,
            KvError::AccessDenied => d1::store::Error::AccessDenied,
            KvError::Other(why) => d1::store::Error::Other(why),
        }
    }
}

type D1Result<T> = wasmtime::Result<Result<T, d1::store::Error>>;

fn d1_store(table: &ResourceTable, bucket: &Resource<DraftBucket>) -> wasmtime::Result<Store> {
    Ok(table.get(bucket)?.0.clone())
}

impl d1::store::Host for KeyValueView<'_> {
    async fn open(&mut self, identifier: String) -> D1Result<Resource<DraftBucket>> {
        match self.instance().open(&identifier) {
            Ok(store) => Ok(Ok(self.table().push(DraftBucket(store))?)),
            Err(err) => Ok(Err(err.into())),
        }
    }
}

impl d1::store::HostBucket for KeyValueView<'_> {
    async fn get(
        &mut self,
        bucket: Resource<DraftBucket>,
        key: String,
    ) -> D1Result<Option<Vec<u8>>> {
        let store = d1_store(self.table, &bucket)?;
        Ok(store.get(&key).await.map_err(Into::into))
    }

    async fn set(
        &mut self,
        bucket: Resource<DraftBucket>,
        key: String,
        value: Vec<u8>,
    ) -> D1Result<()> {
        let store = d1_store(self.table, &bucket)?;
        Ok(store.set(&key, value).await.map_err(Into::into))
    }

    async fn delete(&mut self, bucket: Resource<DraftBucket>, key: String) -> D1Result<()> {
        let store = d1_store(self.table, &bucket)?;
        Ok(store.delete(&key).await.map_err(Into::into))
    }

    async fn exists(&mut self, bucket: Resource<DraftBucket>, key: String) -> D1Result<bool> {
        let store = d1_store(self.table, &bucket)?;
        Ok(store.exists(&key).await.map_err(Into::into))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<DraftBucket>,
        cursor: Option<u64>,
    ) -> D1Result<d1::store::KeyResponse> {
        let store = d1_store(self.table, &bucket)?;
        // The cursor is the number of keys already returned.
        let skip = usize::try_from(cursor.unwrap_or(0)).unwrap_or(usize::MAX);
        Ok(store.keys().await.map_err(Into::into).map(|all| {
            let (keys, more) = page(all, skip);
            let next = skip.saturating_add(keys.len());
            d1::store::KeyResponse {
                keys,
                cursor: more.then_some(next as u64),
            }
        }))
    }

    async fn drop(&mut self, bucket: Resource<DraftBucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl d1::atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<DraftBucket>,
        key: String,
        delta: u64,
    ) -> D1Result<u64> {
        let store = d1_store(self.table, &bucket)?;
        let Ok(delta) = i64::try_from(delta) else {
            return Ok(Err(d1::store::Error::Other(format!(
                "cannot increment key {key:?} by {delta}: at most {} is supported",
                i64::MAX
            ))));
        };
        Ok(match store.increment(&key, delta).await {
            Ok(value) => u64::try_from(value).map_err(|_| {
                d1::store::Error::Other(format!("key {key:?} holds a negative number ({value})"))
            }),
            Err(err) => Err(err.into()),
        })
    }
}

impl d1::batch::Host for KeyValueView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<DraftBucket>,
        keys: Vec<String>,
    ) -> D1Result<Vec<Option<(String, Vec<u8>)>>> {
        let store = d1_store(self.table, &bucket)?;
        Ok(store
            .get_many(keys)
            .await
            .map(|pairs| {
                pairs
                    .into_iter()
                    .map(|(key, value)| value.map(|value| (key, value)))
                    .collect()
            })
            .map_err(Into::into))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<DraftBucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> D1Result<()> {
        let store = d1_store(self.table, &bucket)?;
        Ok(store.set_many(key_values).await.map_err(Into::into))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<DraftBucket>,
        keys: Vec<String>,
    ) -> D1Result<()> {
        let store = d1_store(self.table, &bucket)?;
        Ok(store.delete_many(keys).await.map_err(Into::into))
    }
}

// --- wasi:keyvalue@0.2.0-draft2 --------------------------------------------

impl From<KvError> for d2::store::Error {
    fn from(err: KvError) -> Self {
        match err {
            KvError::NoSuchStore => d2::store::Error::NoSuchStore,
            KvError::AccessDenied => d2::store::Error::AccessDenied,
            KvError::Other(why) => d2::store::Error::Other(why),
        }
    }
}

type D2Result<T> = wasmtime::Result<Result<T, d2::store::Error>>;

fn d2_store(table: &ResourceTable, bucket: &Resource<Draft2Bucket>) -> wasmtime::Result<Store> {
    Ok(table.get(bucket)?.0.clone())
}

impl d2::store::Host for KeyValueView<'_> {
    async fn open(&mut self, identifier: String) -> D2Result<Resource<Draft2Bucket>> {
        match self.instance().open(&identifier) {
            Ok(store) => Ok(Ok(self.table().push(Draft2Bucket(store))?)),
            Err(err) => Ok(Err(err.into())),
        }
    }
}

impl d2::store::HostBucket for KeyValueView<'_> {
    async fn get(
        &mut self,
        bucket: Resource<Draft2Bucket>,
        key: String,
    ) -> D2Result<Option<Vec<u8>>> {
        let store = d2_store(self.table, &bucket)?;
        Ok(store.get(&key).await.map_err(Into::into))
    }

    async fn set(
        &mut self,
        bucket: Resource<Draft2Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> D2Result<()> {
        let store = d2_store(self.table, &bucket)?;
        Ok(store.set(&key, value).await.map_err(Into::into))
    }

    async fn delete(&mut self, bucket: Resource<Draft2Bucket>, key: String) -> D2Result<()> {
        let store = d2_store(self.table, &bucket)?;
        Ok(store.delete(&key).await.map_err(Into::into))
    }

    async fn exists(&mut self, bucket: Resource<Draft2Bucket>, key: String) -> D2Result<bool> {
        let store = d2_store(self.table, &bucket)?;
        Ok(store.exists(&key).await.map_err(Into::into))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Draft2Bucket>,
        cursor: Option<String>,
    ) -> D2Result<d2::store::KeyResponse> {
        let store = d2_store(self.table, &bucket)?;
        // The cursor is the last key already returned.
        Ok(store.keys().await.map_err(Into::into).map(|all| {
            let skip = match &cursor {
                Some(after) => all.partition_point(|key| key <= after),
                None => 0,
            };
            let (keys, more) = page(all, skip);
            let cursor = if more { keys.last().cloned() } else { None };
            d2::store::KeyResponse { keys, cursor }
        }))
    }

    async fn drop(&mut self, bucket: Resource<Draft2Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl d2::atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Draft2Bucket>,
        key: String,
        delta: i64,
    ) -> D2Result<i64> {
        let store = d2_store(self.table, &bucket)?;
        Ok(store.increment(&key, delta).await.map_err(Into::into))
    }

    async fn swap(
        &mut self,
        cas: Resource<Draft2Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), d2::atomics::CasError>> {
        let Draft2Cas {
            store,
            key,
            current,
        } = self.table.delete(cas)?;
        match store.compare_and_swap(&key, current, value).await {
            Ok(CasOutcome::Swapped) => Ok(Ok(())),
            Ok(CasOutcome::Changed { current }) => {
                // A fresh handle holding the latest value, for a retry.
                let retry = self.table.push(Draft2Cas {
                    store,
                    key,
                    current,
                })?;
                Ok(Err(d2::atomics::CasError::CasFailed(retry)))
            }
            Err(err) => Ok(Err(d2::atomics::CasError::StoreError(err.into()))),
        }
    }
}

impl d2::atomics::HostCas for KeyValueView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<Draft2Bucket>,
        key: String,
    ) -> D2Result<Resource<Draft2Cas>> {
        let store = d2_store(self.table, &bucket)?;
        match store.get(&key).await {
            Ok(current) => Ok(Ok(self.table.push(Draft2Cas {
                store,
                key,
                current,
            })?)),
            Err(err) => Ok(Err(err.into())),
        }
    }

    async fn current(&mut self, cas: Resource<Draft2Cas>) -> D2Result<Option<Vec<u8>>> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<Draft2Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl d2::batch::Host for KeyValueView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Draft2Bucket>,
        keys: Vec<String>,
    ) -> D2Result<Vec<(String, Option<Vec<u8>>)>> {
        let store = d2_store(self.table, &bucket)?;
        Ok(store.get_many(keys).await.map_err(Into::into))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Draft2Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> D2Result<()> {
        let store = d2_store(self.table, &bucket)?;
        Ok(store.set_many(key_values).await.map_err(Into::into))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Draft2Bucket>,
        keys: Vec<String>,
    ) -> D2Result<()> {
        let store = d2_store(self.table, &bucket)?;
        Ok(store.delete_many(keys).await.map_err(Into::into))
    }
}

// --- fermyon:spin/key-value@2.0.0 ------------------------------------------

impl From<KvError> for sp::Error {
    fn from(err: KvError) -> Self {
        match err {
            KvError::NoSuchStore => sp::Error::NoSuchStore,
            KvError::AccessDenied => sp::Error::AccessDenied,
            KvError::Other(why) => sp::Error::Other(why),
        }
    }
}

type SpResult<T> = wasmtime::Result<Result<T, sp::Error>>;

fn sp_store(table: &ResourceTable, store: &Resource<SpinStore>) -> wasmtime::Result<Store> {
    Ok(table.get(store)?.0.clone())
}

impl sp::Host for KeyValueView<'_> {}

impl sp::HostStore for KeyValueView<'_> {
    async fn open(&mut self, label: String) -> SpResult<Resource<SpinStore>> {
        match self.instance().open(&label) {
            Ok(store) => Ok(Ok(self.table().push(SpinStore(store))?)),
            Err(err) => Ok(Err(err.into())),
        }
    }

    async fn get(&mut self, store: Resource<SpinStore>, key: String) -> SpResult<Option<Vec<u8>>> {
        let store = sp_store(self.table, &store)?;
        Ok(store.get(&key).await.map_err(Into::into))
    }

    async fn set(
        &mut self,
        store: Resource<SpinStore>,
        key: String,
        value: Vec<u8>,
    ) -> SpResult<()> {
        let store = sp_store(self.table, &store)?;
        Ok(store.set(&key, value).await.map_err(Into::into))
    }

    async fn delete(&mut self, store: Resource<SpinStore>, key: String) -> SpResult<()> {
        let store = sp_store(self.table, &store)?;
        Ok(store.delete(&key).await.map_err(Into::into))
    }

    async fn exists(&mut self, store: Resource<SpinStore>, key: String) -> SpResult<bool> {
        let store = sp_store(self.table, &store)?;
        Ok(store.exists(&key).await.map_err(Into::into))
    }

    async fn get_keys(&mut self, store: Resource<SpinStore>) -> SpResult<Vec<String>> {
        let store = sp_store(self.table, &store)?;
        Ok(store.keys().await.map_err(Into::into))
    }

    async fn drop(&mut self, store: Resource<SpinStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl From<KvError> for sp3::Error {
    fn from(err: KvError) -> Self {
        match err {
            KvError::NoSuchStore => sp3::Error::NoSuchStore,
            KvError::AccessDenied => sp3::Error::AccessDenied,
            KvError::Other(why) => sp3::Error::Other(why),
        }
    }
}

type Sp3Result<T> = wasmtime::Result<Result<T, sp3::Error>>;
type Sp3Accessor<T> = wasmtime::component::Accessor<T, HasKeyValue>;

/// The backend behind a `spin:key-value@3.0.0` handle, taken out of the
/// table so that the store is not borrowed while the backend is awaited.
fn sp3_store<T>(
    accessor: &Sp3Accessor<T>,
    store: &Resource<Spin3Store>,
) -> wasmtime::Result<Store> {
    accessor.with(|mut access| Ok(access.get().table.get(store)?.0.clone()))
}

impl sp3::Host for KeyValueView<'_> {}

impl sp3::HostStore for KeyValueView<'_> {
    fn drop(&mut self, store: Resource<Spin3Store>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

// spin:key-value@3.0.0's functions are async (component-model async ABI):
// each gets the store through an accessor for the table and awaits the
// backend without holding it.
impl<T> sp3::HostStoreWithStore<T> for HasKeyValue {
    async fn open(accessor: &Sp3Accessor<T>, label: String) -> Sp3Result<Resource<Spin3Store>> {
        accessor.with(|mut access| {
            let view = access.get();
            match view.instance.open(&label) {
                Ok(store) => Ok(Ok(view.table.push(Spin3Store(store))?)),
                Err(err) => Ok(Err(err.into())),
            }
        })
    }

    async fn get(
        accessor: &Sp3Accessor<T>,
        store: Resource<Spin3Store>,
        key: String,
    ) -> Sp3Result<Option<Vec<u8>>> {
        let store = sp3_store(accessor, &store)?;
        Ok(store.get(&key).await.map_err(Into::into))
    }

    async fn set(
        accessor: &Sp3Accessor<T>,
        store: Resource<Spin3Store>,
        key: String,
        value: Vec<u8>,
    ) -> Sp3Result<()> {
        let store = sp3_store(accessor, &store)?;
        Ok(store.set(&key, value).await.map_err(Into::into))
    }

    async fn delete(
        accessor: &Sp3Accessor<T>,
        store: Resource<Spin3Store>,
        key: String,
    ) -> Sp3Result<()> {
        let store = sp3_store(accessor, &store)?;
        Ok(store.delete(&key).await.map_err(Into::into))
    }

    async fn exists(
        accessor: &Sp3Accessor<T>,
        store: Resource<Spin3Store>,
        key: String,
    ) -> Sp3Result<bool> {
        let store = sp3_store(accessor, &store)?;
        Ok(store.exists(&key).await.map_err(Into::into))
    }

    async fn get_keys(
        accessor: &Sp3Accessor<T>,
        store: Resource<Spin3Store>,
    ) -> wasmtime::Result<(
        wasmtime::component::StreamReader<String>,
        wasmtime::component::FutureReader<Result<(), sp3::Error>>,
    )> {
        let store = sp3_store(accessor, &store)?;
        // The keys are listed first, then streamed: a failed listing is an
        // empty stream and the error on the future.
        let (keys, result) = match store.keys().await {
            Ok(keys) => (keys, Ok(())),
            Err(err) => (Vec::new(), Err(sp3::Error::from(err))),
        };
        accessor.with(|mut access| {
            let keys = wasmtime::component::StreamReader::new(&mut access, keys)?;
            let result = wasmtime::component::FutureReader::new(&mut access, async move {
                wasmtime::Result::<_>::Ok(result)
            })?;
            Ok((keys, result))
        })
    }
}
