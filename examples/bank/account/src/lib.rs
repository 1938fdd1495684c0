//! One bank account per name (the `accounts` binding), reached only by RPC from the gateway
//! worker, the auditor and other accounts. Balances are whole cents.
//!
//! `transfer` shows calls between objects and atomic events together: the account withdraws,
//! then calls the receiving account's `deposit`; if that call fails, this event fails too, so the
//! withdrawal is never stored (and a transfer to oneself is refused by the host as a call cycle).

use holdfast_sdk::{
    DurableObject, Error, Request, Response, Result, State, durable_object, methods,
};
use serde_json::json;

#[durable_object]
pub struct Account {
    state: State,
}

impl DurableObject for Account {
    fn new(state: State) -> Self {
        Account { state }
    }

    /// `GET /`: the balance and the history's length, for a look without RPC.
    fn fetch(&mut self, _req: Request) -> Result<Response> {
        Ok(Response::json(&json!({
            "balance": self.balance()?,
            "movements": self.state.storage().get::<u64>("movements")?.unwrap_or(0),
        })))
    }
}

#[methods]
impl Account {
    pub fn balance(&self) -> Result<i64> {
        Ok(self.state.storage().get::<i64>("balance")?.unwrap_or(0))
    }

    /// Adds `cents` (more than 0); the new balance.
    pub fn deposit(&mut self, cents: i64) -> Result<i64> {
        if cents <= 0 {
            return Err(Error::msg(format!(
                "a deposit must be more than 0 cents, got {cents}"
            )));
        }
        self.add(cents)
    }

    /// Takes `cents` (more than 0, at most the balance); the new balance.
    pub fn withdraw(&mut self, cents: i64) -> Result<i64> {
        let balance = self.balance()?;
        if cents <= 0 {
            return Err(Error::msg(format!(
                "a withdrawal must be more than 0 cents, got {cents}"
            )));
        }
        if cents > balance {
            return Err(Error::msg(format!(
                "insufficient funds: the balance is {balance} cents, {cents} asked"
            )));
        }
        self.add(-cents)
    }

    /// Moves `cents` to the account `to`; this account's new balance.
    pub fn transfer(&mut self, to: String, cents: i64) -> Result<i64> {
        let left = self.withdraw(cents)?;
        let other = self.state.binding("accounts").get_by_name(&to)?;
        other
            .call::<_, i64>("deposit", (cents,))
            .map_err(|e| Error::msg(format!("transfer to {to} failed: {e}")))?;
        Ok(left)
    }

    fn add(&mut self, cents: i64) -> Result<i64> {
        let storage = self.state.storage();
        let balance = self.balance()? + cents;
        let movements = storage.get::<u64>("movements")?.unwrap_or(0) + 1;
        storage.put("balance", &balance)?;
        storage.put("movements", &movements)?;
        Ok(balance)
    }
}
