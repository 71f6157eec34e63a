#include "dux/s3/s3_xml.h"

#include <tinyxml2.h>

#include <cstdlib>

#include "dux/s3/s3_path.h"
#include "dux/s3/timestamps.h"

namespace dux::s3 {

namespace {

using tinyxml2::XMLDocument;
using tinyxml2::XMLElement;

constexpr const char* kNamespace = "http://s3.amazonaws.com/doc/2006-03-01/";
// No white space between elements (tinyxml2 wants it said on every element).
constexpr bool kCompact = true;

// Parses `xml`; the root element when its name is `root`, else nullptr.
const XMLElement* Root(XMLDocument& doc, std::string_view xml, const char* root) {
  if (doc.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS) return nullptr;
  const XMLElement* element = doc.RootElement();
  if (element == nullptr || std::string_view(element->Name()) != root) return nullptr;
  return element;
}

std::string Text(const XMLElement* parent, const char* child) {
  const XMLElement* element = parent == nullptr ? nullptr : parent->FirstChildElement(child);
  const char* text = element == nullptr ? nullptr : element->GetText();
  return text == nullptr ? std::string() : std::string(text);
}

Status NotA(std::string_view what, std::string_view xml) {
  std::string start(xml.substr(0, 80));
  for (char& c : start) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return Status::InvalidArgument("s3: the answer is not " + std::string(what) + ": \"" + start +
                                 (xml.size() > 80 ? "...\"" : "\""));
}

}  // namespace

std::optional<S3Error> ParseError(std::string_view xml) {
  XMLDocument doc;
  const XMLElement* root = Root(doc, xml, "Error");
  if (root == nullptr) return std::nullopt;
  return S3Error{Text(root, "Code"), Text(root, "Message")};
}

Result<ListPage> ParseListObjectsV2(std::string_view xml) {
  XMLDocument doc;
  const XMLElement* root = Root(doc, xml, "ListBucketResult");
  if (root == nullptr) return NotA("a ListBucketResult", xml);
  const bool url_encoded = Text(root, "EncodingType") == "url";
  auto decode = [&](std::string text) -> Result<std::string> {
    if (!url_encoded) return text;
    return UriDecode(text, /*plus_is_space=*/true);
  };
  ListPage page;
  page.truncated = Text(root, "IsTruncated") == "true";
  page.next_continuation_token = Text(root, "NextContinuationToken");
  if (page.truncated && page.next_continuation_token.empty()) {
    return Status::InvalidArgument("s3: a truncated listing without a NextContinuationToken");
  }
  for (const XMLElement* c = root->FirstChildElement("Contents"); c != nullptr;
       c = c->NextSiblingElement("Contents")) {
    ListedObject object;
    DUX_ASSIGN_OR_RETURN(object.key, decode(Text(c, "Key")));
    const std::string size = Text(c, "Size");
    // Digits only: strtoull would take "-1" as 2^64 - 1.
    const bool digits = !size.empty() && size.size() <= 20 &&
                        size.find_first_not_of("0123456789") == std::string::npos;
    if (digits) object.size = std::strtoull(size.c_str(), nullptr, 10);
    if (!digits) {
      return Status::InvalidArgument("s3: bad Size \"" + size + "\" for key \"" + object.key +
                                     "\" in a listing");
    }
    object.etag = Text(c, "ETag");
    DUX_ASSIGN_OR_RETURN(object.last_modified, ParseIso8601(Text(c, "LastModified")));
    page.listing.objects.push_back(std::move(object));
  }
  for (const XMLElement* p = root->FirstChildElement("CommonPrefixes"); p != nullptr;
       p = p->NextSiblingElement("CommonPrefixes")) {
    DUX_ASSIGN_OR_RETURN(std::string prefix, decode(Text(p, "Prefix")));
    page.listing.common_prefixes.push_back(std::move(prefix));
  }
  return page;
}

Result<std::string> ParseCreateMultipartUpload(std::string_view xml) {
  XMLDocument doc;
  const XMLElement* root = Root(doc, xml, "InitiateMultipartUploadResult");
  std::string upload_id = Text(root, "UploadId");
  if (upload_id.empty()) return NotA("an InitiateMultipartUploadResult with an UploadId", xml);
  return upload_id;
}

Result<std::string> ParseCompleteMultipartUpload(std::string_view xml) {
  if (std::optional<S3Error> error = ParseError(xml)) {
    return Status::Internal(error->code + ": " + error->message);
  }
  XMLDocument doc;
  const XMLElement* root = Root(doc, xml, "CompleteMultipartUploadResult");
  if (root == nullptr) return NotA("a CompleteMultipartUploadResult", xml);
  return Text(root, "ETag");
}

Result<std::vector<DeleteFailure>> ParseDeleteResult(std::string_view xml) {
  XMLDocument doc;
  const XMLElement* root = Root(doc, xml, "DeleteResult");
  if (root == nullptr) return NotA("a DeleteResult", xml);
  std::vector<DeleteFailure> failures;
  for (const XMLElement* e = root->FirstChildElement("Error"); e != nullptr;
       e = e->NextSiblingElement("Error")) {
    failures.push_back({Text(e, "Key"), {Text(e, "Code"), Text(e, "Message")}});
  }
  return failures;
}

std::string CompleteMultipartUploadXml(const std::vector<CompletedPart>& parts) {
  tinyxml2::XMLPrinter printer(nullptr, /*compact=*/true);
  printer.OpenElement("CompleteMultipartUpload", kCompact);
  printer.PushAttribute("xmlns", kNamespace);
  for (const CompletedPart& part : parts) {
    printer.OpenElement("Part", kCompact);
    printer.OpenElement("ETag", kCompact);
    printer.PushText(part.etag.c_str());
    printer.CloseElement(kCompact);
    printer.OpenElement("PartNumber", kCompact);
    printer.PushText(part.part_number);
    printer.CloseElement(kCompact);
    printer.CloseElement(kCompact);
  }
  printer.CloseElement(kCompact);
  return std::string(printer.CStr(), printer.CStrSize() - 1);
}

std::string DeleteObjectsXml(const std::vector<std::string>& keys) {
  tinyxml2::XMLPrinter printer(nullptr, /*compact=*/true);
  printer.OpenElement("Delete", kCompact);
  printer.PushAttribute("xmlns", kNamespace);
  for (const std::string& key : keys) {
    printer.OpenElement("Object", kCompact);
    printer.OpenElement("Key", kCompact);
    printer.PushText(key.c_str());
    printer.CloseElement(kCompact);
    printer.CloseElement(kCompact);
  }
  printer.OpenElement("Quiet", kCompact);
  printer.PushText("true");
  printer.CloseElement(kCompact);
  printer.CloseElement(kCompact);
  return std::string(printer.CStr(), printer.CStrSize() - 1);
}

}  // namespace dux::s3
