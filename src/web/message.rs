//! The plain message page: a title, a few paragraphs and optionally a link
//! to the subscriber's settings ("check your inbox", "you are subscribed").

use askama::Template;

#[derive(Template)]
#[template(path = "web/message.html")]
pub struct MessagePage {
    pub base: String,
    pub title: String,
    pub paragraphs: Vec<String>,
    pub manage_url: Option<String>,
}
