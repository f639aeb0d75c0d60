//! The repair vocabulary: what the tolerant parsers had to interpret in a transaction.
//!
//! Its own module so that the field readers (`timestamp.rs`) and the transaction parser
//! (`transaction.rs`) can both report in it while the dependency runs one way: transaction →
//! timestamp → repair, and transaction → repair. It imports neither.

use serde::Serialize;

/// What the parser had to interpret; stored with the bronze row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RepairKind {
    /// No `transactionId`: a deterministic id was derived from the content.
    DerivedTransactionId,
    /// A non-string id was turned into a string.
    IdAsString,
    /// Empty or absent timestamp: capture time stands in.
    MissingTimestamp,
    /// A timestamp that could not be read: capture time stands in.
    InvalidTimestamp,
    EpochSeconds,
    EpochMillis,
    /// A timestamp with no offset, read as Asia/Manila time.
    NaiveTimestamp,
    /// A malformed ISO-8601 string (e.g. a doubled fraction) that was mended.
    MalformedTimestamp,
    /// Device id case or spacing normalised.
    DeviceIdCase,
    /// A UUID `transactionId` written in upper case: stored in lower case, the UUID's one
    /// spelling, so a resend in the other case is the same transaction.
    TransactionIdCase,
    /// A number sent as a string.
    NumberFromString,
    /// `""` where a number belongs: treated as absent.
    EmptyNumber,
    /// `null` where a number belongs: treated as absent.
    NullNumber,
    /// Not readable as a number: treated as absent.
    UnreadableNumber,
    /// `brand` used for `brandName`.
    BrandKey,
    /// `product`/`name` used for `productName`.
    ProductKey,
    /// `price` used for `unitPrice`.
    PriceKey,
    /// No quantity: 1 assumed.
    DefaultQuantity,
    /// No `totalPrice`: quantity × unit price.
    ComputedTotalPrice,
    /// An item that was a bare string, taken as a product name.
    ItemFromString,
    /// An item that was neither object nor string: skipped.
    SkippedItem,
    /// `items` was not an array.
    ItemsNotArray,
    /// `detectedBrands` values given as `{"confidence": n}`.
    ConfidenceObject,
    /// `detectedBrands` found at the top level instead of under `brandDetection`.
    DetectedBrandsTopLevel,
    /// A detected-brand confidence that could not be read.
    UnreadableConfidence,
    /// `storeId` sent as a number.
    StoreIdNumber,
    /// A malformed `consentTimestamp` that was mended or dropped.
    ConsentTimestamp,
    /// A text field sent as a number or boolean.
    TextFromScalar,
}

/// One interpretation the parser made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repair {
    /// JSON path of the field (`items[2].quantity`).
    pub field: String,
    pub kind: RepairKind,
}
