// Private to status_page/: the status page, HTML with its CSS and JavaScript inline
// (page.html, embedded by the build: nothing is fetched from anywhere else).
#pragma once

#include <string_view>

namespace dux::status_page {

std::string_view StatusPageHtml();

}  // namespace dux::status_page
