//! [`Call`]: what every v3 call is to the rest of the crate — a checked request and the way its
//! answer reads — so that the merchant, the component and the hosts handle every endpoint with
//! one generic path instead of one function per endpoint.

use super::answer::{not_refused, Answer};
use super::error::Error;
use super::merchant::Merchant;
use super::request::Request;

/// One v3 call.
pub trait Call {
    /// The typed answer.
    type Answer;
    /// Whether WeChat signs the answer. Every answer is signed but the flow downloads' (the
    /// `url` of a use-flow or refund-flow file), which SDKs that verify anyway fail on.
    const SIGNED: bool = true;
    /// The request, every field checked. `now` (Unix seconds) serves rules about time (a new
    /// stock may not start in the past); most calls ignore it.
    fn request_at(&self, now: i64) -> Result<Request, Error>;
    /// The answer from a body already verified (or, for an unsigned answer, from a 2xx).
    fn read(body: &str) -> Result<Self::Answer, Error>;
}

impl Merchant {
    /// Reads the answer of any call: a refusal from its status and body; else the signature
    /// verified (for a signed answer) and the body read.
    pub fn parse<C: Call>(&self, answer: &Answer, now: i64) -> Result<C::Answer, Error> {
        if C::SIGNED {
            C::read(self.read_answer(answer, now)?)
        } else {
            not_refused(answer)?;
            C::read(&answer.body)
        }
    }
}
