#![allow(dead_code)]

pub mod app;
pub mod fake_chatwoot;
pub mod fake_evolution;
pub mod fake_llm;
pub mod fake_media;
pub mod fake_meta;
pub mod fake_waha;
pub mod proc;
pub mod redis;
pub mod slow_file;
pub mod stack;
pub mod waha_hooks;
