//! The port through which calls to objects placed on other nodes leave this one (cluster mode;
//! implemented above this layer, by `cluster/`), and the entry for calls arriving from them.

use crate::runtime::{CallBody, CallFuture, Chain, types};
use crate::store::ObjectKey;

/// Routes a call to the node of its callee.
pub trait Remote: Send + Sync {
    /// The call's answer from the callee's node, or the body back when the callee is this
    /// node's (the caller then delivers it here). `from` names the calling object, for the
    /// messages of the callee's node.
    fn route(
        &self,
        callee: &ObjectKey,
        to: &types::Address,
        chain: Chain,
        from: Option<&str>,
        body: CallBody,
    ) -> Result<CallFuture, CallBody>;
}
