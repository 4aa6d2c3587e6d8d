pub mod build;
pub mod compile;
pub mod new;
pub mod run;
pub mod up;
