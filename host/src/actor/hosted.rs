//! How an event runs for an object hosted by a shared instance (see `hosts.rs` for the rules):
//! wait for the instance (or move off it while it waits in a call), make it if it is gone, tell
//! it what to forget, move the object's storage view, identity and slot in for the event (the
//! guest asks `hosting-context.slot`) and take the view back after.

use std::sync::atomic::Ordering;

use tokio::sync::OwnedMutexGuard;

use super::event::EventError;
use super::hosts::{HostState, MOVE_AFTER};
use super::object::{Actor, Undelivered, wait_for_pool};
use crate::runtime::{CallError, CallLimits, Chain, Delivered, HandlerCall, Live, StartError};
use crate::sockets::WsEffects;

impl Actor {
    /// Runs the event on the object's shared instance. Afterwards the storage view is in
    /// `spare` again.
    pub(super) async fn deliver_shared(
        &mut self,
        limits: &CallLimits,
        chain: Chain,
        call: HandlerCall,
    ) -> Result<Delivered, Undelivered> {
        let mut state = self.claim_instance(chain.depth > 0).await;
        let hosts = self.hosts.clone().expect("a shared class has hosts");
        let home = self.home.as_mut().expect("placed by claim_instance");
        let host = home.host.clone();
        // A bumped generation means the instance this object's state lived in was lost: the
        // new one does not know its slot, so the object starts afresh there.
        home.generation = host.generation();
        let slot = home.slot;
        if state.live.is_none() {
            state.live = Some(self.start_shared().await.map_err(Undelivered::Start)?);
        }
        let live = state.live.as_mut().expect("started above");
        let mut told = Ok(());
        for forgotten in host.take_forgets() {
            told = live.forget(limits, forgotten).await;
            if told.is_err() {
                break;
            }
        }
        if let Err(f) = told {
            self.lose_instance(&hosts, &host, &mut state);
            return Err(Undelivered::Ended(
                CallError::Guest(f),
                WsEffects::default(),
            ));
        }
        let storage = self.spare.take().expect("storage is spare between events");
        let mut live = state.live.take().expect("started above");
        live.put_object(storage, &self.identity, slot);
        match live.deliver(limits, chain, call).await {
            Ok((mut live, delivered)) => {
                self.spare = Some(live.take_object());
                state.live = Some(live);
                Ok(delivered)
            }
            Err((storage, error, fx)) => {
                self.spare = Some(storage);
                self.lose_instance(&hosts, &host, &mut state);
                Err(Undelivered::Ended(error, fx))
            }
        }
    }

    /// Waits for the object's instance, placing the object first if it has none. While the
    /// instance waits in a call, a call's event (`urgent`) does not wait for it at all and any
    /// other waits at most `MOVE_AFTER`: then the object moves to another instance.
    async fn claim_instance(&mut self, urgent: bool) -> OwnedMutexGuard<HostState> {
        let hosts = self.hosts.clone().expect("a shared class has hosts");
        let patience = if urgent {
            std::time::Duration::ZERO
        } else {
            MOVE_AFTER
        };
        loop {
            let home = self.home.get_or_insert_with(|| hosts.place(&self.key));
            let host = home.host.clone();
            let lock = host.state.clone().lock_owned();
            tokio::pin!(lock);
            let got = loop {
                let started = host.suspension.started();
                tokio::pin!(started);
                started.as_mut().enable();
                if host.suspension.is_suspended() {
                    break tokio::time::timeout(patience, &mut lock).await.ok();
                }
                tokio::select! {
                    guard = &mut lock => break Some(guard),
                    _ = &mut started => continue,
                }
            };
            match got {
                Some(guard) => return guard,
                None => {
                    let home = self.home.take().expect("placed above");
                    hosts.release(home);
                    hosts.moves.fetch_add(1, Ordering::Relaxed);
                    self.services.hub.close_pinned(&self.key);
                    tracing::debug!(namespace = %self.identity.binding, object = %self.identity.id, "moved off an instance waiting in a call");
                }
            }
        }
    }

    /// A new shared instance for the class (waiting briefly while the pool is full).
    async fn start_shared(&mut self) -> Result<Live, EventError> {
        let suspension = self.home.as_ref().expect("placed").host.suspension.clone();
        let mut attempts = 0;
        loop {
            let mut reach = self.reach();
            reach.suspension = Some(suspension.clone());
            let started = Live::start_shared(
                &self.services.engine,
                &self.class,
                self.identity.clone(),
                reach,
                self.services.hub.clone(),
                self.limits(),
            )
            .await;
            match started {
                Ok(l) => return Ok(l),
                Err(StartError::PoolFull) => {
                    if !wait_for_pool(&self.slots, &mut attempts).await {
                        return Err(EventError::PoolFull);
                    }
                }
                Err(StartError::Guest(f)) => return Err(f.into()),
            }
        }
    }

    /// The instance trapped: every object it hosted starts afresh (their sockets whose
    /// listeners lived in its memory close; this object's are closed by the caller).
    fn lose_instance(
        &self,
        hosts: &super::hosts::Hosts,
        host: &super::hosts::Host,
        state: &mut HostState,
    ) {
        let others = hosts.lose(host, state, &self.key);
        tracing::warn!(
            namespace = %self.identity.binding,
            instance = host.id,
            objects = others.len() + 1,
            "a shared instance was lost; its objects start afresh"
        );
        for key in others {
            self.services.hub.close_pinned(&key);
        }
    }
}
