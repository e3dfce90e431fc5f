import CTTLKV

extension StoreUpdate {
    /// Whether the decision taken so far writes the key: a new value, a new
    /// deadline, or the removal of a live key. (Keeping the key, or removing
    /// an absent one, writes nothing.) For a server that must tell watchers
    /// of a key when it changes (Redis's WATCH).
    public var changesKey: Bool {
        switch action {
        case TTLKV_UPDATE_REPLACE, TTLKV_UPDATE_SET_DEADLINE: true
        case TTLKV_UPDATE_DELETE: state.pointee.found != 0
        default: false
        }
    }
}
